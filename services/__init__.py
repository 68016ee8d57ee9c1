"""The common runtime every service is built from: settings, database, migrations,
outbox, consumer, health, logging and the app factory. A service folder holds only
its own domain and wires it in through ``services.app.ServiceSpec``.
"""
