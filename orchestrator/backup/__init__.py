"""The backup concern: restoring the third party's snapshots into S3.

* ``contract`` -- what the outside world sees: the marker's name and content, the restore target's keys,
  the snapshot's age against the RPO (computed here and nowhere else);
* ``pipeline`` -- SFTP -> sha256 -> S3, several files at once, verified before anything is final;
* ``sha256sums`` -- the parser of the provider's (hostile) SHA256SUMS listing.

Nothing is imported here: ``adapters.sftp`` uses ``sha256sums`` and ``pipeline`` uses ``adapters``, so an
eager import would be circular.
"""
