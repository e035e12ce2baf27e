"""The web load benchmark (run it with bench/web_load.py): segloop served as in production,
under concurrent annotators and reviewers.

What runs (all on 127.0.0.1, all started and stopped by this script):

* PostgreSQL: a dedicated database (``--db-name``, created here, dropped at the end) on the
  server at ``--pg`` (trust auth);
* Redis: the server at ``--redis``, a dedicated db number (``--redis-db``, flushed before and
  after; refused if it holds keys that are not Celery's);
* one Celery worker (``-Q default``), checked with the ``webapp.ping`` task;
* gunicorn (``gunicorn webapp.wsgi``, ``--workers`` x ``--threads`` gthread) with DEBUG=false,
  SECRET_KEY, ALLOWED_HOSTS=127.0.0.1, SECURE_SSL_REDIRECT=false, media in a temp dir. The
  client sends ``X-Forwarded-Proto: https`` as the TLS proxy in front of production does
  (settings.SECURE_PROXY_SSL_HEADER), and keeps the Secure session and CSRF cookies on
  plain-HTTP loopback. No settings change is needed.

Data: one project of ``--images`` image rows made with bulk_create, all pointing at one shared
480x360 image file and thumbnail; ``--review-share`` of them are in review with a pending
ReviewItem (random score) whose pseudo mask is one of a few shared PNGs, ``--pseudo-share``
are pseudo-labeled, the rest unlabeled. ``--users`` users (annotator + reviewer) log in
through the login form (timed apart, before the measured windows).

Scenarios, each a closed loop of ``--users`` threads for ``--duration`` seconds, with a think
time of ``--think`` seconds (uniform 0.5x..1.5x) between a user's actions:

* ``annotate``: 70 % of actions edit a random image of the first ``--edit-pool`` unlabeled
  ones: GET the editor page, GET the current mask (its X-Mask-Version is the base), think,
  POST a 480x360 PNG of class indices (multipart ``mask``, base_version, editing_seconds).
  A 409 (someone saved the image meanwhile) is counted as a conflict, the mask is read again
  and the save retried once. 30 % review: GET the review queue page (it only reads: it shows
  the item the user holds); when it shows none, POST "Start reviewing" (``review_claim``, the
  303 back) and GET the page again; think, POST accept or reject (``review_decide``, the 302
  back; the POST also leases the user's next item, which their next GET of the page shows).
* ``browse``: the image grid of the big project (first page, a page half-way through by its
  keyset cursor, the "in review" filter), and the review API: POST review/next/, think, POST
  accept or reject.

Every request that does not answer its expected status (or fails) is an error. Printed as
one JSON object, appended to bench/results/web_load.jsonl (``--jsonl``; ``--no-jsonl``
skips), and with ``--write-docs`` written to the "## Web load" section of docs/benchmarks.md.
``--explain`` prints EXPLAIN ANALYZE of the hot queries after seeding.

    .venv/bin/python bench/web_load.py                       # 50 users, 100,000 images, 2 x 60 s
    .venv/bin/python bench/web_load.py --users 3 --duration 3 --images 300 --no-jsonl  # smoke

Modules: config (WebLoadConfig from the command line), services (database, Redis db,
worker, gunicorn through bench/harness.py), data (seeding, EXPLAIN, query counts), client
(users and the recorder), scenario, summary (targets, the docs section), cli.
"""
