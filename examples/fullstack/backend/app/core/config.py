"""Settings from the environment (pydantic-settings): the plain ones from the unit, the password and
the first user's from the service's secret environment."""

from pydantic import computed_field
from pydantic_core import MultiHostUrl
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_ignore_empty=True, extra="ignore")

    PROJECT_NAME: str = "fullstack example"
    ENVIRONMENT: str = "local"
    POSTGRES_SERVER: str
    POSTGRES_PORT: int = 5432
    POSTGRES_USER: str
    POSTGRES_PASSWORD: str = ""
    POSTGRES_DB: str = ""
    FIRST_SUPERUSER: str
    FIRST_SUPERUSER_PASSWORD: str

    @computed_field  # type: ignore[prop-decorator]
    @property
    def SQLALCHEMY_DATABASE_URI(self) -> str:  # noqa: N802  (the template's name)
        return str(MultiHostUrl.build(scheme="postgresql+psycopg", username=self.POSTGRES_USER, password=self.POSTGRES_PASSWORD,
                                      host=self.POSTGRES_SERVER, port=self.POSTGRES_PORT, path=self.POSTGRES_DB))


settings = Settings()  # type: ignore[call-arg]
