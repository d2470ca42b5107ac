from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

from config.bootstrap import prepare_local_defaults

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
prepare_local_defaults()

application = get_wsgi_application()
