-- 0005: a scan's rare parts (proof of delivery, a partner carrier's delivery window) in one
-- nullable column of compact MessagePack (storage/rows.py); NULL, so free, on ordinary scans.
-- A new column without a default is a catalog change only: no table rewrite, no long lock.

ALTER TABLE scans ADD COLUMN extras bytea;
