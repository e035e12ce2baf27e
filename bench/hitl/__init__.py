"""The HITL simulation (run it with bench/hitl_simulation.py): a simulated team labels CamVid
through the app itself.

Everything goes through segloop's own services and a real Celery worker process: a fresh
SQLite database and MEDIA_ROOT in a work directory, the embedded Redis (or REDIS_URL), the
CamVid preset project (void = ignore class), all train images imported without masks, and
training rounds started with ``training_run_start`` as the project admin and run by
``celery -A webapp worker -Q default,training -P solo``. The script polls the TrainingRun row
until the round is over; pseudo-labelling, the auto-accept threshold's calibration, the audits
and the queue's order happen inside the run, as in production.

Strategies (the same number of human-touched images per round, ``--budget``; the project's
``queue_strategy`` is set to the strategy and its ``review_batch_size`` to the budget):

* ``diverse`` and ``least_confident``: a simulated reviewer takes ``--budget`` items from
  ``review_item_next``, in the project's queue order, and saves the ground truth over each one
  with ``mask_save`` as a human mask; the app's mask hook closes the item as *corrected* and
  records its pixel error, which calibrates the threshold. Audits (auto-acceptable
  pseudo-labels sent to the queue as spot checks) are corrected the same way and count toward
  the budget: they take a human look. Effort = pixels whose class had to change, void ignored.
  Pseudo-labels the app accepts (status ``pseudo``) become training data. Queue items past the
  budget stay pending; the next round re-scores and re-orders them. ``--accept N`` makes the
  reviewer also accept the next N items unchecked (off by default: a rubber stamp turns every
  wrong pixel into ground truth). If the queue runs dry, the reviewer corrects the least
  confident accepted pseudo-labels. Records written before version 2 call least_confident
  ``uncertainty``; reading them maps the old name.
* ``random``: ``--budget`` images chosen at random (seeded per seed and round) among those
  without a human mask get their ground-truth mask; the queue is not used. Effort = all
  non-void pixels (labelled from scratch).

Reviewers (``--reviewer``, queue strategies only; issue 13):

* ``whole`` (the default, as before): the picked item gets the whole ground truth; its
  changed pixels are brush pixels.
* ``region``: review by region. The item image's superpixels (webapp.images.superpixels;
  computed by the worker after import, or here if missing) are split into doubtful regions
  (mean fused confidence, the item's ``confidence_map`` 0-255, under tau x 255, tau being the
  round's config ``tau``; or teachers disagreeing, ``disagreement_map``, on more than half the
  region) and confident ones. A doubtful region whose dominant ground-truth class (void not
  counted) differs from the pseudo-label's dominant class gets that class with one click (Cai
  et al., CVPR 2021); the pixels still wrong in the doubtful regions after that are painted
  (brush pixels) and, as with the whole reviewer, take the ground truth there (void included,
  free). Confident regions are accepted as they are, wrong pixels and all. The composed mask is
  saved with ``mask_save`` as the human mask. Items the queue cannot give (it ran dry) and items
  without maps are corrected whole. Each variant has its own state folder
  (``seed<N>/<strategy>-<reviewer>``), branched from the same round-0 snapshot.
* ``clicks``: review by region with clicks only, Cai et al.'s protocol and the editor's
  superpixel tool: the same doubtful regions and the same one-click dominant class, but
  nothing is painted. The pixels of a clicked region that belong to another class stay wrong
  in the saved mask (impure superpixels), as do the confident regions' wrong pixels. It costs
  a click or a key per doubtful region; what it saves in brush work it may lose in label
  quality, which the val mIoU at equal training measures.

The cost of the humans' work, in estimated seconds (module constants, recorded with every
line; the table reports val mIoU against them):

* SECONDS_PER_CLICK = 1 s: a doubtful region given its dominant class with one click or key.
  Cai et al. (CVPR 2021, "Revisiting superpixels for active learning in semantic segmentation
  with realistic annotation costs") cost a region's dominant-class label as one click; Bearman
  et al. (ECCV 2016, "What's the point") measured about 1 s per class for image-level labels
  (20.0 s per PASCAL image for 20 classes) and 22.1 s per image for one point per class.
* SECONDS_PER_KEPT_REGION = 1 s: a doubtful region looked at and kept (the key that moves on).
  Our assumption, not the literature's: it is one key press, costed as a click.
* SECONDS_PER_IMAGE_FROM_SCRATCH = 5400 s: a street scene labelled from scratch. Cordts et al.
  (CVPR 2016, Cityscapes) report more than 1.5 h per finely annotated image; Bearman et al.
  239.7 s per (much simpler) PASCAL VOC image. Painted pixels cost their share of the image's
  area times this: painting a whole image from scratch (every non-void pixel) costs close to
  5400 s, correcting a tenth of it 540 s, at any stored resolution.

So region review = clicks + kept regions + painted share; whole-image correction = changed
share; painting from scratch (round 0's seed labels, the random strategy, full supervision) =
non-void share. Records before this cost model carry no ``human_seconds`` and show n/a.

Seeds: ``--seed N`` chooses round 0's ``--seed-labels`` human masks, the random strategy's
picks and the training seed (TrainConfig.seed). Each seed has its own work folder,
``<work-dir>/seed<N>/``: round 0 is trained once per seed, by whichever strategy comes first,
and snapshotted to ``seed<N>/round0``; the other strategies of that seed branch from the
snapshot (their queue is then re-ordered by their own strategy). Calls continue where the
last one stopped.

After every round the active model version's student (``ModelVersion.student_path``) is
evaluated on CamVid val (void ignored, ``ml.metrics.evaluate``) and one JSON line (``"version":
2``) is appended to ``bench/results/hitl.jsonl``: seed, strategy, round, human images touched
(cumulative, and per CamVid sequence), the pick kinds of the items the reviewer took, pixels
corrected, the accepted pseudo-labels (count, share of the images without a human mask, their
true pixel error against the ground truth), the threshold calibration, the audited error
estimate, val mIoU, wall time, the training config and the profile. ``--table`` prints mean ±
std over seeds per strategy and budget, the last round's auto-accept and the picks' spread,
and checks issue 12's targets; ``--plot`` draws the curves with error bars (docs/hitl.png).

The full benchmark (3 strategies x 3 seeds, two processes at a time on one thread each;
``--max-rounds 4`` = 12 seed labels + 4 x 19 = 88 images, just under a quarter of 367):

    H="python bench/hitl_simulation.py --budget 19 --threads 1 --max-rounds 4"
    L=bench/results/hitl_work/logs; mkdir -p $L
    # 1. round 0 of each seed (it creates the snapshot that the seed's other strategies branch from)
    printf '%s\\n' 0 1 2 | xargs -P 2 -I{} sh -c "$H --strategy diverse --seed {} --rounds 1 > $L/round0_s{}.log 2>&1"
    # 2. rounds 1-4 of every strategy and seed
    for s in 0 1 2; do for st in diverse least_confident random; do echo $st $s; done; done |
      xargs -P 2 -L 1 sh -c "$H --strategy \\$0 --seed \\$1 --rounds 4 > $L/\\$0_s\\$1.log 2>&1"
    # 3. the full-supervision line, as many rounds (0-4); one seed is enough, more add error bars
    printf '%s\\n' 0 1 2 | xargs -P 2 -I{} sh -c "$H --full-supervision --seed {} --rounds 5 > $L/full_s{}.log 2>&1"
    # 4. optional: the train pool's labels (human + student) after each round
    python bench/hitl_simulation.py --strategy diverse --seed 0 --pool-eval
    # 5. results
    python bench/hitl_simulation.py --table --plot

Profile: ``hitl`` (the default) is bench/camvid_ssl.py's ``cpu`` profile (240x180, 128 px
crops, hybrid Swin SU, Lite2 RU, Lite0 student, all pretrained) with HITL_STEPS teacher and
student steps; ``cpu`` and ``gpu`` are camvid_ssl's own. ``--set '{"teacher_steps": 40}'``
overrides fields (the table only mixes records with the same --set). Because the app
pseudo-labels images at their stored resolution, the reduced resolution is applied at import:
images are stored resized to the profile's long side (bilinear, masks nearest), and val is
evaluated at the same size. ``--profile tiny`` is a seconds-long profile for the smoke test.
``--data`` points at any folder laid out like CamVid (train/, trainannot/, val/, valannot/).

Modules: config (constants, profiles, SimulationConfig from the command line), state
(SimulationState, state.json), data (the CamVid-like folder), app (the steps through the app's
services), review (the simulated humans and their cost), measures (the project after a round),
rounds (a strategy's rounds, full supervision), pool (--pool-eval), results and plot (--table,
--plot), cli. The running app (SQLite, broker, worker) is bench/harness.py's AppEnvironment.
"""
