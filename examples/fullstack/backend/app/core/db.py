"""The database engine, and the first user, created once."""

import hashlib
import socket
from pathlib import Path

from sqlmodel import Session, create_engine, select

from app.core.config import settings
from app.models import PrestartRun, User

# Connects on first use, not at import: the role's check before the switch imports the app.
engine = create_engine(settings.SQLALCHEMY_DATABASE_URI, pool_pre_ping=True, pool_size=2, max_overflow=2)
# The release directory this code runs from (<release>/backend/app/core/db.py).
RELEASE = Path(__file__).resolve().parents[3].name


def init_db(session: Session) -> None:
    user = session.exec(select(User).where(User.email == settings.FIRST_SUPERUSER)).first()
    if not user:
        hashed = hashlib.sha256(settings.FIRST_SUPERUSER_PASSWORD.encode()).hexdigest()
        session.add(User(email=settings.FIRST_SUPERUSER, full_name="First Superuser", hashed_password=hashed))
    session.add(PrestartRun(release=RELEASE, host=socket.gethostname()))
    session.commit()
