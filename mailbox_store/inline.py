"""Small message bodies kept in the database, inside the delivery's transaction.

A blob file costs a file fsync and a folder fsync per message; a body of a few kilobytes written
as a row of ``mbx_blobs`` in the group-commit transaction costs nothing more than the commit that
the message rows need anyway. Rows are sealed exactly like blob files (AES-256-GCM, key id inside,
blob id as associated data), so key rotation and tamper detection work the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection

from mailbox_store.blobs import KeyRing, seal, unseal
from mailbox_store.dialect import insert_ignore
from mailbox_store.tables import inline_blobs


@dataclass(frozen=True)
class InlineBlobs:
    keyring: KeyRing
    max_size: int  # bodies up to this many bytes are kept inline

    def accepts(self, body: bytes) -> bool:
        return len(body) <= self.max_size

    def seal(self, blob_id: str, body: bytes) -> bytes:
        return seal(self.keyring, blob_id, body)

    def open(self, blob_id: str, sealed: bytes) -> bytes:
        return unseal(self.keyring, blob_id, sealed)


def store_inline(
    conn: Connection, inline: InlineBlobs, bodies: Sequence[tuple[str, bytes]]
) -> None:
    """Insert the sealed bodies not stored yet (same id, same content: nothing to do)."""
    rows = {blob_id: body for blob_id, body in bodies}
    if rows:
        conn.execute(
            insert_ignore(conn, inline_blobs),
            [{"blob_id": k, "content": inline.seal(k, v)} for k, v in rows.items()],
        )
