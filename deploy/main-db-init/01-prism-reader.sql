-- The SELECT-only role Prism Console reads the main API database as (docs/maindb.md).
--
-- Run by the postgres image on first start (docker-entrypoint-initdb.d), or by hand:
--   PRISM_READER_PASSWORD=... psql -v ON_ERROR_STOP=1 -d main -f 01-prism-reader.sql
--   psql -v ON_ERROR_STOP=1 -v prism_reader_password=... -d main -f 01-prism-reader.sql
-- Run it as the role that owns (and later creates) the main API's tables, so the default
-- privileges below cover tables added by future migrations of the main API.
-- No password is written here: it comes from the psql variable prism_reader_password or,
-- failing that, from the environment variable PRISM_READER_PASSWORD (psql 15+).
-- Re-running it is safe: it updates the password and grants again.

\if :{?prism_reader_role}
\else
  \set prism_reader_role prism_reader
\endif
\if :{?prism_reader_password}
\else
  \getenv prism_reader_password PRISM_READER_PASSWORD
\endif
\if :{?prism_reader_password}
\else
  DO $$ BEGIN
    RAISE EXCEPTION 'set PRISM_READER_PASSWORD (or psql -v prism_reader_password=...)';
  END $$;
\endif

SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'prism_reader_role', :'prism_reader_password')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'prism_reader_role')
\gexec
SELECT format('ALTER ROLE %I LOGIN PASSWORD %L', :'prism_reader_role', :'prism_reader_password')
\gexec

-- Reading only: connect, look up the schema, SELECT every table and view.
SELECT format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), :'prism_reader_role')
\gexec
GRANT USAGE ON SCHEMA public TO :"prism_reader_role";
GRANT SELECT ON ALL TABLES IN SCHEMA public TO :"prism_reader_role";
-- Tables the main API creates later (as the role running this script) are readable too.
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO :"prism_reader_role";

-- Every session of the role is read-only even if a client forgets to ask; the console also
-- opens each transaction READ ONLY and sets its own statement_timeout.
ALTER ROLE :"prism_reader_role" SET default_transaction_read_only = on;
ALTER ROLE :"prism_reader_role" SET statement_timeout = '5s';
