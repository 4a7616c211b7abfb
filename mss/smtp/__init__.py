"""SMTP sessions on aiosmtpd: the MX listener for other operators and the submission listeners
for professionals. ``mss.smtp.replies`` is the one place that turns decisions into SMTP replies.
"""
