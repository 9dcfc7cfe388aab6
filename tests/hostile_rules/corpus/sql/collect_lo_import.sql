-- name: collect-lo-import
-- table: victim
-- Attack lo_import.
SELECT lo_import('/etc/hostname') WHERE false;
