"""Wait until the database answers (prestart step 1)."""

import logging

from sqlmodel import Session, select
from tenacity import after_log, before_log, retry, stop_after_attempt, wait_fixed

from app.core.db import engine

logging.basicConfig(level=logging.INFO)
logger = logging.getLogger(__name__)


@retry(stop=stop_after_attempt(60), wait=wait_fixed(1), before=before_log(logger, logging.INFO), after=after_log(logger, logging.WARN))
def init() -> None:
    with Session(engine) as session:
        session.exec(select(1))


if __name__ == "__main__":
    logger.info("Initializing service")
    init()
    logger.info("Service finished initializing")
