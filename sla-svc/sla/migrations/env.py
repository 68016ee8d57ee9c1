from services.migrate import run_env
from sla.tables import metadata

run_env(metadata)
