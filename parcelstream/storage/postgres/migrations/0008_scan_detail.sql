-- 0008: a partner carrier's own words and code for a scan ("Arrived at Facility [AR/005]").
-- Nullable with no default, so adding it rewrites no partition.
ALTER TABLE scans ADD COLUMN detail text;
