"""The project's ASGI application, plus static files, for the browser tests.

``bcpages.asgi.application`` does not serve ``/static/`` (``manage.py runserver``
adds that itself when DEBUG is on), so a bare ``python -m daphne
bcpages.asgi:application`` serves pages whose CSS and scripts are 404s. The
browser tests wrap it the same way runserver does; everything else (HTTP views,
the websocket, the embedded worker) is the project's own application.
"""

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

from bcpages.asgi import application as project_application

application = ASGIStaticFilesHandler(project_application)
