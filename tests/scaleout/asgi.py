"""The project's ASGI application plus static files, for the scaled-out tests.

Daphne serves ``bcpages.asgi.application`` in production, behind a proxy that
serves ``/static/``; the tests have no proxy, so static files are served here,
the same way ``manage.py runserver`` does, and the test pages (``tests.pages``:
the probe page that enqueues what a test asks for) are registered. Everything
else is the project's.
"""

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

from bcpages.asgi import application as project_application
from tests import pages  # noqa: F401  (registers the test pages)

application = ASGIStaticFilesHandler(project_application)
