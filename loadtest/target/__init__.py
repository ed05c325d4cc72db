"""The reference OpsCore API: a real ASGI server over a real database, exposing exactly the
monitoring guide's metrics, with fault injection. `loadtest target` serves it.

    app.py      routes, middleware (metrics + faults), error handlers
    db.py       SQLite (default) and PostgreSQL stores behind one small interface
    metrics.py  the guide's metrics in their own registry
    faults.py   latency / error / slow-DB / DB-down rules, changeable at run time
    server.py   run it under uvicorn
"""
