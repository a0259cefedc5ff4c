"""Plausible mistakes in module 06: a dampened momentum buffer (buf = mu*buf + (1-mu)*g, not PyTorch's rule),
SGD weight decay with the wrong sign, SGD rebinding a new Tensor instead of updating in place, Adam without
bias correction and with one step count shared by all parameters, and AdamW's decay without the learning rate."""
REPLACE = [
    ("                        self.buffers[i] = self.momentum * self.buffers[i] + g\n",
     "                        self.buffers[i] = self.momentum * self.buffers[i] + (1 - self.momentum) * g\n"),
    ("                    g = g + self.weight_decay * p\n",
     "                    g = g - self.weight_decay * p\n"),
    ("                p -= self.lr * g\n",
     "                self.params[i] = p - self.lr * g\n"),
    ("                m_hat = self.m[i] / (1 - beta1 ** t)\n                v_hat = self.v[i] / (1 - beta2 ** t)\n",
     "                m_hat = self.m[i]\n                v_hat = self.v[i]\n"),
    ("                self.t[i] += 1\n                t = self.t[i]\n",
     "                self.t[0] += 1 if i == 0 else 0\n                t = max(self.t[0], 1)\n"),
    ("            p -= self.lr * self.weight_decay * p\n",
     "            p -= self.weight_decay * p\n"),
]
EXPECT_FAIL = ["sgd_plain_and_weight_decay", "sgd_momentum_matches_engine", "adam_matches_engine",
               "adamw_matches_engine", "in_place_and_zero_grad", "quadratic_training_matches_engine"]
