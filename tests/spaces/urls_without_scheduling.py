"""The project's URLs without scheduling's pages, for tests of Spaces on its own: Spaces reaches
the schedule page only by name (spaces/selectors.py `space_page_url`) and must work without it."""

from spaces_project.urls import urlpatterns as project_urls


def _from_scheduling(pattern: object) -> bool:
    module = getattr(pattern, "urlconf_name", None)  # an include()'s module
    return getattr(module, "__name__", "").startswith("scheduling.")


urlpatterns = [p for p in project_urls if not _from_scheduling(p)]
