from rest_framework.pagination import CursorPagination


class DefaultCursorPagination(CursorPagination):
    """Stable, constant-cost paging over newest-first lists (`?cursor=`)."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
