"""One training step per stage: compute the losses, return them by name.

Each step returns a dict with "loss" (the tensor to back-propagate) and detached
floats for the progress callback: the named loss terms, the weights in force and
"mask_ratio" (share of valid unlabeled pixels whose pseudo-label passed tau).
The caller owns backward(), the optimizer and the schedule.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from ml import losses as L
from ml.data import apply_cutmix, cutmix_boxes

from .config import TrainConfig
from .plan import Plan


def _total(losses: list[Tensor]) -> Tensor:
    """The sum of one loss per network (a Tensor, where builtin sum starts from the int 0)."""
    return functools.reduce(operator.add, losses)


def _f(t: Tensor) -> float:
    return float(t.detach())


def pixel_weight(batch_l: dict) -> Tensor:
    """N,H,W CE weight of each labeled pixel: its image's weight (pseudo-labels weigh less)."""
    w = batch_l["weight"].float()
    return w.view(-1, 1, 1).expand(batch_l["mask"].shape)


def _mix_strong(batch_u: dict, p: float):
    """CutMix the strong views with their neighbour in the batch: (x_s, valid, box, perm)."""
    x_s, valid = batch_u["image_s"], batch_u["valid"]
    n, _, h, w = x_s.shape
    box = cutmix_boxes(n, h, w, p=p, device=x_s.device)
    perm = torch.roll(torch.arange(n, device=x_s.device), 1)
    return apply_cutmix(box, x_s, perm), apply_cutmix(box, valid, perm), box, perm


def _ratio(mask: Tensor, valid: Tensor) -> float:
    v = valid.float()
    return float((mask.float() * v).sum() / v.sum().clamp_min(1.0))


def teacher_step(
    teachers: Mapping[str, nn.Module],
    batch_l: dict,
    batch_u: dict | None,
    *,
    cfg: TrainConfig,
    plan: Plan,
    step: int,
    total: int,
) -> dict:
    """Stage 1: L = L_sup + lambda_cps(t) * L_cps + lambda_dis(t) * L_dis.

    batch_l: {"image" (N,3,H,W), "mask" (N,H,W), "weight" (N,)}; batch_u: {"image_w",
    "image_s" (M,3,H,W), "valid" (M,H,W)} or None (no unlabeled data: L_sup only).
    With one teacher L_cps is self-training on its own confident weak-view labels.
    """
    roles = list(teachers)
    x_l, y_l = batch_l["image"], batch_l["mask"]
    pw, nl = pixel_weight(batch_l), x_l.shape[0]
    if batch_u is None:
        sup = _total([L.supervised_loss(teachers[r](x_l), y_l, cfg.ignore_index, pw) for r in roles])
        return {"loss": sup, "sup": _f(sup)}

    x_w, valid = batch_u["image_w"], batch_u["valid"]
    nu = x_w.shape[0]
    x_s, v_s, box, perm = _mix_strong(batch_u, cfg.cutmix_prob)
    zl, zw, zs = {}, {}, {}
    for r in roles:
        zl[r], zw[r], zs[r] = teachers[r](torch.cat([x_l, x_w, x_s])).split([nl, nu, nu])
    sup = _total([L.supervised_loss(zl[r], y_l, cfg.ignore_index, pw) for r in roles])
    # weak-view probabilities, CutMix-ed like the strong view they supervise
    pm = {r: apply_cutmix(box, zw[r].detach().float().softmax(1), perm) for r in roles}
    if len(roles) == 2:
        a, b = roles
        unsup = L.cps_loss(zs[a], zs[b], pm[a], pm[b], cfg.tau, v_s, cfg.pseudo_normalize)
    else:
        conf, lab = pm[roles[0]].max(1)
        unsup = L.pseudo_label_ce(zs[roles[0]], lab, conf >= cfg.tau, v_s, cfg.pseudo_normalize)
    w_cps = cfg.lambda_cps * L.sigmoid_rampup(step, cfg.rampup_frac * total)
    loss = sup + w_cps * unsup
    out: dict[str, Any] = {"sup": _f(sup), "cps": _f(unsup), "w_cps": w_cps}
    if plan.use_dl:
        dis = L.discrepancy_loss(zw[roles[0]], zw[roles[1]], valid, cfg.dl_eps)
        w_dis = cfg.lambda_dis * L.linear_decay(step, total, cfg.dl_decay_power)
        loss = loss + w_dis * dis
        out.update(dis=_f(dis), w_dis=w_dis)
    out["mask_ratio"] = sum(_ratio(pm[r].max(1).values >= cfg.tau, v_s) for r in roles) / len(roles)
    out["loss"] = loss
    return out


@torch.no_grad()
def teacher_targets(teachers: dict[str, nn.Module], x_w: Tensor) -> dict[str, Tensor]:
    """Frozen teachers' softmax on the weak view: role -> (M, C, H, W) float."""
    return {r: m(x_w).float().softmax(1) for r, m in teachers.items()}


def student_step(
    student: nn.Module,
    teachers: dict[str, nn.Module],
    batch_l: dict,
    batch_u: dict | None,
    *,
    cfg: TrainConfig,
    plan: Plan,
    step: int,
    total: int,
) -> dict:
    """Stage 2: L = L_l + lambda_u(t) * (L_pl + lambda_glo * L_glo + lambda_loc * L_loc).

    ``teachers`` are frozen and in eval mode ({"su", "ru"}, one of them, or {"ema": ...} for
    mean_teacher); empty (or batch_u None) gives the supervised-only student. Pseudo-labels
    come from the fused teachers p_T = mean(p_t) on the weak view. The student's unlabeled
    input is the weak view on even steps and the CutMix-ed strong view on odd steps when
    cfg.alternate_states, else always the strong view.
    """
    x_l, y_l = batch_l["image"], batch_l["mask"]
    pw, nl = pixel_weight(batch_l), x_l.shape[0]
    if not teachers or batch_u is None:
        sup = L.supervised_loss(student(x_l), y_l, cfg.ignore_index, pw)
        return {"loss": sup, "sup": _f(sup)}

    x_w, valid = batch_u["image_w"], batch_u["valid"]
    probs = teacher_targets(teachers, x_w)
    strong = not cfg.alternate_states or step % 2 == 1
    if strong:
        x_u, v_u, box, perm = _mix_strong(batch_u, cfg.cutmix_prob)
        probs = {r: apply_cutmix(box, p, perm) for r, p in probs.items()}
    else:
        x_u, v_u = x_w, valid
    p_t = torch.stack(list(probs.values())).mean(0)
    conf, pseudo = p_t.max(1)
    mask = conf >= cfg.tau

    z_l, z_u = student(torch.cat([x_l, x_u])).split([nl, x_u.shape[0]])
    sup = L.supervised_loss(z_l, y_l, cfg.ignore_index, pw)
    pl = L.pseudo_label_ce(z_u, pseudo, mask, v_u, cfg.pseudo_normalize)
    unsup = pl
    out: dict[str, Any] = {"sup": _f(sup), "pl": _f(pl)}
    if plan.use_gcl:
        glo = L.global_context_loss(z_u, probs.get("su", p_t), v_u)
        unsup = unsup + cfg.lambda_glo * glo
        out["gcl"] = _f(glo)
    if plan.use_lrl:
        loc = L.local_regional_loss(z_u, probs.get("ru", p_t), cfg.lrl_r, v_u)
        unsup = unsup + cfg.lambda_loc * loc
        out["lrl"] = _f(loc)
    w_u = cfg.lambda_u * L.sigmoid_rampup(step, cfg.rampup_frac * total)
    out.update(w_u=w_u, strong=float(strong), mask_ratio=_ratio(mask, v_u), loss=sup + w_u * unsup)
    return out


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * model for parameters; buffers are copied."""
    for pe, pm in zip(ema.parameters(), model.parameters(), strict=True):  # same architecture
        pe.mul_(decay).add_(pm.detach(), alpha=1 - decay)
    for be, bm in zip(ema.buffers(), model.buffers(), strict=True):
        be.copy_(bm)
