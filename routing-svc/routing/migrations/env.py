from routing.tables import metadata
from services.migrate import run_env

run_env(metadata)
