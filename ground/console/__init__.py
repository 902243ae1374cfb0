"""The operator console (web): ``aisat console``.

- :mod:`ground.console.server`  - the ASGI app (Starlette, served by uvicorn): pages,
  JSON endpoints, access rules;
- :mod:`ground.console.backend` - the one place that reads the ground (ops API for live
  state and commanding, the archive for history): change data access there only;
- :mod:`ground.console.series`  - decimation of a telemetry point's samples for plots;
- :mod:`ground.console.alarms`  - latching alarms an operator acknowledges;
- :mod:`ground.console.access`  - who may bind where and send what (ops token, CSRF);
- ``static/``: the page, one script and one stylesheet; no CDN, no build step.
"""
