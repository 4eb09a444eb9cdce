"""The tables, as SQLModel classes; Alembic's env.py imports them."""

from sqlmodel import Field, SQLModel


class User(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(unique=True, index=True, max_length=255)
    full_name: str | None = Field(default=None, max_length=255)
    hashed_password: str


class PrestartRun(SQLModel, table=True):
    """One row per run of scripts/prestart.sh: which release ran it, on which host."""

    __tablename__ = "prestart_runs"
    id: int | None = Field(default=None, primary_key=True)
    release: str = Field(max_length=64)
    host: str = Field(max_length=255)
