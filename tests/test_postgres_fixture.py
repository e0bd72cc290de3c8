"""The PostgreSQL test server itself: it starts, answers SQL, and databases are separate."""

from __future__ import annotations

from tests.postgres import PostgresServer, postgres_database, postgres_server

__all__ = ["postgres_database", "postgres_server"]


def test_server_answers_sql(postgres_server: PostgresServer) -> None:
    assert postgres_server.psql("SELECT 40 + 2") == "42"
    assert postgres_server.psql("SHOW server_version").startswith("15")


def test_each_test_gets_its_own_database(
    postgres_database: str, postgres_server: PostgresServer
) -> None:
    name = postgres_database.rsplit("/", 1)[1]
    postgres_server.psql("CREATE TABLE t (x int); INSERT INTO t VALUES (1), (2)", name)
    assert postgres_server.psql("SELECT count(*) FROM t", name) == "2"
    assert "t" not in postgres_server.psql(
        "SELECT tablename FROM pg_tables WHERE schemaname='public'"
    )
