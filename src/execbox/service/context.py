"""Everything one app instance uses, built by ``create_app`` and kept on ``app.state``."""

from __future__ import annotations

from dataclasses import dataclass, field

from execbox.dispatch import Dispatcher
from execbox.languages import LanguageRegistry
from execbox.service.metrics import Metrics
from execbox.service.readiness import Probe
from execbox.service.runner import RunService
from execbox.service.schemas import LanguageInfo
from execbox.settings import Settings
from execbox.store import Database


@dataclass
class ServiceContext:
    settings: Settings
    db: Database
    registry: LanguageRegistry
    dispatcher: Dispatcher
    runs: RunService
    readiness: Probe
    metrics: Metrics
    languages: list[LanguageInfo] = field(default_factory=list)
