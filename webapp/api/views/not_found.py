"""Unknown paths under /api/ answer in JSON like every other API error, not with an HTML page."""

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

NO_SUCH_ENDPOINT = "No such API endpoint; the list is at /api/docs/."


# CSRF-exempt like the API's DRF views: a token client's PATCH or DELETE to an unknown path gets
# this 404, not Django's HTML CSRF page. Nothing here reads or changes anything.
@csrf_exempt
def api_not_found(request, path=""):
    return JsonResponse({"detail": NO_SUCH_ENDPOINT}, status=404)
