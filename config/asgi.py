from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

from config.bootstrap import prepare_local_defaults

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
prepare_local_defaults()

application = get_asgi_application()
