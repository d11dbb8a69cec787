-- The ward and the registry keep their own databases: neither reads the other's tables.
CREATE DATABASE ward;
CREATE DATABASE registry;
