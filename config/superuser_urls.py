"""URL patterns only superusers may open: the RQ dashboard and anything a package adds under it.

The guard wraps every pattern of an included URL list (recursively), so a view that a later version of the
package adds is covered without anyone remembering to decorate it.
"""

from functools import wraps

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.urls import URLPattern, URLResolver, reverse

__all__ = ["superuser_only", "superuser_only_patterns"]


def superuser_only(view):
    """The view for active superusers; anonymous users go to the sign-in page, everyone else gets 403."""

    @wraps(view)
    def guarded(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse(settings.LOGIN_URL))
        if not (request.user.is_active and request.user.is_superuser):
            raise PermissionDenied("Only superusers may open the job queues.")
        return view(request, *args, **kwargs)

    guarded.superuser_only = True
    return guarded


def superuser_only_patterns(patterns) -> list:
    """A copy of `patterns` in which every view, however deeply included, is wrapped by `superuser_only`."""
    guarded = []
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            guarded.append(
                URLResolver(
                    pattern.pattern,
                    superuser_only_patterns(pattern.url_patterns),
                    pattern.default_kwargs,
                    pattern.app_name,
                    pattern.namespace,
                )
            )
        elif isinstance(pattern, URLPattern):
            view = superuser_only(pattern.callback)
            guarded.append(URLPattern(pattern.pattern, view, pattern.default_args, pattern.name))
        else:
            raise TypeError(f"Cannot guard {pattern!r}: not a URL pattern or resolver.")
    return guarded
