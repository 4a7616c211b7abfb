"""Health documents: IHE XDM and CDA R2 parsing, classification, the embedded DMP store.

Job: turn attachments sent to patients into documents of their record (issue: DMP bridge).
Allowed imports: ``config`` only.
"""
