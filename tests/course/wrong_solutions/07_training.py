"""Plausible mistakes in module 07: the loss recorded after the update from a second forward pass, clipping
every gradient to max_norm by its own norm instead of the joint norm, clip_grad_value building new gradient
Tensors (not in place), scaled_backward that forgets to unscale, and a warmup that starts from 0."""
REPLACE = [
    ("        optimizer.step()\n        losses.append(float(loss.item()))\n",
     "        optimizer.step()\n        losses.append(float(loss_fn(model(X), Y).item()))\n"),
    ("    total = math.sqrt(sum(float((np.asarray(g, dtype=np.float64) ** 2).sum()) for g in grads))\n"
     "    if total > max_norm:\n        factor = max_norm / (total + 1e-6)\n        for g in grads:\n            g *= factor\n",
     "    total = math.sqrt(sum(float((np.asarray(g, dtype=np.float64) ** 2).sum()) for g in grads))\n"
     "    for g in grads:\n        own = math.sqrt(float((np.asarray(g, dtype=np.float64) ** 2).sum()))\n"
     "        if own > max_norm:\n            g *= max_norm / (own + 1e-6)\n"),
    ("            p.grad.copy_(p.grad.clip(-clip_value, clip_value))\n",
     "            p.grad = p.grad.clip(-clip_value, clip_value)\n"),
    ("            p.grad /= scale\n", "            pass\n"),
    ("        return float(lr_max * (step + 1) / warmup_steps)\n",
     "        return float(lr_max * step / warmup_steps)\n"),
]
EXPECT_FAIL = ["train_steps_matches_engine_loop", "clip_grad_norm_matches_engine", "clip_grad_value_matches_engine",
               "scaled_backward_unscales_and_detects_overflow", "cosine_schedule_matches_engine",
               "guarded_loop_matches_engine"]
