"""The reference target's routes, one module per resource. Each declares its routes on the app
(`add_routes(app)`) and `create_app` calls them in this order, the order the middleware matches
route templates in. (Not APIRouters: FastAPI includes a router as one opaque route, which would
hide the templates from the middleware's metrics and from `create_app(without=...)`.)

    documents.py    list, search, create, read, update, delete
    records.py      execution records of a document
    attachments.py  attachments of a document
    users.py        the caller
    operations.py   /health (the guide's JSON), /ready, /metrics
    admin.py        /admin/faults: read, replace, clear the faults at run time
    common.py       what they share: the state dependency, the caller, the error body
"""
