"""Settings for the vrmd example site. Production values come from the environment
(set in the systemd unit) and /etc/vrmd-django/secret_key (made by the postinst)."""

import os
from pathlib import Path

SECRET_KEY_FILE = Path(os.environ.get("VRMD_DJANGO_SECRET_KEY_FILE", "/etc/vrmd-django/secret_key"))
if SECRET_KEY_FILE.exists():
    SECRET_KEY = SECRET_KEY_FILE.read_text().strip()
else:
    # Development (and build steps such as collectstatic) only: DEBUG stays off in production
    # unless asked for, and production has the key file.
    SECRET_KEY = "development-only-not-secret"

DEBUG = os.environ.get("VRMD_DJANGO_DEBUG") == "1"
ALLOWED_HOSTS = os.environ.get("VRMD_DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1").split(",")

INSTALLED_APPS = ["django.contrib.staticfiles", "hello"]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
]
ROOT_URLCONF = "vrmdsite.urls"
WSGI_APPLICATION = "vrmdsite.wsgi.application"
TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "APP_DIRS": True,
    "OPTIONS": {"context_processors": ["django.template.context_processors.i18n"]},
}]
# No database: the example has no models.
DATABASES = {}

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("fr", "Français")]
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
# collectstatic writes here; the web server in front serves it. The build sets it to the staging tree.
STATIC_ROOT = os.environ.get("VRMD_DJANGO_STATIC_ROOT", "/vrmd/django/static")
