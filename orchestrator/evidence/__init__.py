"""The evidence of a run (contract 1.2, evidence): the pack written beside its report
(``REPORT_DIR/RUN_ID/evidence/``: ``pack``), its hash-chained audit log (``chain``), the check of a pack
and of its uploaded copy (``verify``), the framework index (``index``) and the findings tracked from run to
run (``findings``)."""
