"""Unknown paths under /api/ answer in JSON like every other API error, not with an HTML page."""

from django.http import JsonResponse

NO_SUCH_ENDPOINT = "No such API endpoint; the list is at /api/docs/."


def api_not_found(request, path=""):
    return JsonResponse({"detail": NO_SUCH_ENDPOINT}, status=404)
