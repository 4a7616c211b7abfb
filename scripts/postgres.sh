# Sourced: start the Debian PostgreSQL cluster on 127.0.0.1:5432 and export MSS_TEST_PG_URL.
version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
if ! pg_lsclusters -h | grep -q "^$version main"; then
  as_root pg_createcluster "$version" main >/dev/null
fi
if ! pg_lsclusters -h | grep -q "^$version main .* online"; then
  as_root pg_ctlcluster "$version" main start
fi
for _ in $(seq 1 30); do
  pg_isready -q -h 127.0.0.1 && break
  sleep 1
done
as_root su postgres -c "psql -qtAc \"SELECT 1 FROM pg_roles WHERE rolname='mss'\"" | grep -q 1 \
  || as_root su postgres -c "psql -qc \"CREATE ROLE mss LOGIN SUPERUSER PASSWORD 'mss'\""
as_root su postgres -c "psql -qtAc \"SELECT 1 FROM pg_database WHERE datname='mss_test'\"" | grep -q 1 \
  || as_root su postgres -c "createdb -O mss mss_test"
export MSS_TEST_PG_URL="postgresql+asyncpg://mss:mss@127.0.0.1:5432/mss_test"
