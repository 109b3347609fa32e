"""The base of the bundle's settings classes (``RISK_*``, ``TELEGRAM_*``)."""

from __future__ import annotations

from pydantic_settings import BaseSettings, PydanticBaseSettingsSource


class ExplicitSettings(BaseSettings):
    """Settings built from explicit values only: their loader reads the environment and
    ``.env`` once, strictly, and passes what it found."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only the values given to the constructor."""
        return (init_settings,)
