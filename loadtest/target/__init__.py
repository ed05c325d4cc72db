"""The reference OpsCore API: a real ASGI server over a real database, exposing exactly the
monitoring guide's metrics, with fault injection. `loadtest target` serves it.

    app.py      the app factory, middleware (metrics + faults), error handlers
    routes/     the routes, one module per resource
    state.py    what the routes share (db, metrics, faults, storage), opened by init_state
    db.py       SQLite (default) and PostgreSQL stores behind one small interface
    metrics.py  the guide's metrics in their own registry
    faults.py   latency / error / slow-DB / DB-down rules, changeable at run time
    server.py   run it under uvicorn
"""
