"""Who is on the other end: credential checks for SASL mechanisms (PLAIN, LOGIN today;
XOAUTH2/OAUTHBEARER with Pro Santé Connect and EXTERNAL with certificates later)."""

from mss.auth.credentials import Authenticator, Principal

__all__ = ["Authenticator", "Principal"]
