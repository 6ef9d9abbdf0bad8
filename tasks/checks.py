"""System checks for ``settings.BCPAGES`` (run at start-up and by ``manage.py check``)."""

from django.core.checks import Error, register

from tasks import conf

_POSITIVE = ("MAX_RUNNING", "MAX_QUEUED", "DEFAULT_TIMEOUT_MS", "MAX_TIMEOUT_MS", "CHILD_SESSIONS", "LOST_GRACE_MS", "CANCEL_GRACE_MS")


@register()
def check_settings(app_configs=None, **kwargs):
    errors = []
    from django.conf import settings

    for name in getattr(settings, "BCPAGES", {}):
        if name not in conf.DEFAULTS:
            errors.append(Error(f"BCPAGES[{name!r}] is not a bcpages setting.", hint=f"Known settings: {', '.join(sorted(conf.DEFAULTS))}.", id="bcpages.E001"))
    for name in _POSITIVE:
        value = conf.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            errors.append(Error(f"BCPAGES[{name!r}] is {value!r}; it must be a positive integer.", hint=f"The default is {conf.DEFAULTS[name]}.", id="bcpages.E002"))
    default, maximum = conf.get("DEFAULT_TIMEOUT_MS"), conf.get("MAX_TIMEOUT_MS")
    if isinstance(default, int) and isinstance(maximum, int) and default > maximum:
        errors.append(Error(f"BCPAGES['DEFAULT_TIMEOUT_MS'] ({default}) is above BCPAGES['MAX_TIMEOUT_MS'] ({maximum}).", id="bcpages.E003"))
    if conf.get("PLAYGROUND") not in ("on", "staff", "off"):
        errors.append(Error(f"BCPAGES['PLAYGROUND'] is {conf.get('PLAYGROUND')!r}; use 'on', 'staff' or 'off'.", id="bcpages.E004"))
    return errors
