"""Site pages for live Spaces (spaces/site_urls.py), by concern:

- `lists`: the live and ended lists, the home page's live region, Start a Space;
- `room`: the Space page (or its `space.state` snapshot as JSON) and the transcript pages;
- `actions`: one POST per action on the page, answering with a redirect or JSON.

Thin, like accounts/views.py: reads go through spaces.selectors, every action calls the one
service the API and the socket call too, and the page helpers are spaces_project/site.py's.
"""
