"""Team mode: the journal on a DynamoDB table.

``store`` (``DynamoJournal``: runs, steps, events, drills), ``lock`` (the site lock, a lease), ``table``
(calls, retries, conditional failures), ``codec`` (record fields as attribute values).
"""
