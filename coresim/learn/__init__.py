"""Learning on the chip without backpropagation: node perturbation with a global reward (García Fernández,
Keemink and van Gerven 2024), and BPTT in float as the reference.

Network (real units; the chip holds integers): a chain of dense linear layers, relu ones (optionally recurrent)
and a readout with `model: none`, read at the last timestep (`readout: last`):

    a_t = W x_t + U h_{t-1},  h_t = clip(a_t, 0, 1),  o = V h_T,  L = 1/2 ||o - y||^2   (y one-hot)

Integers: activity 1.0 = 255 (8-bit inputs and relu outputs), real weight = chip weight / 2**shift (the relu's
shift; the readout's `shift` field), so h = clip((W x + U h) >> shift, 0, 255) and o = V h / (255 << shift).

Per sample, two forward passes with the same weights: clean, and perturbed by xi_t ~ N(0, sigma^2) added to the
pre-activation a_t of every trained layer (an integer current, from a seeded generator; the readout only at the
step it is read). The output core computes dL = L(perturbed) - L(clean) in integers and broadcasts one scalar;
every core then updates the weights it holds, from traces it stored during the passes (its inputs x_t of the clean
pass and xi_t, or its pre-activations a_t), over the steps t that matter:

    np:    dW = -eta (dL / sigma^2)            sum_t xi_t x_t^T
    anp:   dW = -eta (dL N / ||delta a||^2)    sum_t delta a_t x_t^T,   delta a_t = a_t(perturbed) - a_t(clean)
    danp:  as anp with x~_t = D x_t in place of x_t; the chip computes with W D; each layer input has its D:
           dD = -alpha / T' sum_t (x~_t x~_t^T - diag(x~_t^2)) D      (D starts at the identity)
    bptt:  dW = -eta dL/dW by backpropagation through time, in float, functional only.
    bptt-int: as bptt through the chip's integer forward pass (functional executor, float weights rounded to the
           chip's), the floor and the rounding straight-through: the gradient of the network the chip runs.

N is the number of perturbed node-steps and ||delta a||^2 sums over all of them (each core sends its partial sum
to the output core before the broadcast); T' is the number of steps a layer's traces hold. U learns the same way
(x_t := h_{t-1}). Rounding: each weight has a master copy with `frac` extra fraction bits (the higher-precision
accumulator); the update is a fixed-point product g E >> 24 with g the broadcast reward (24 fraction bits) and
E = sum_t e_t x_t^T, rounded half up; the chip weight is the master rounded to the chip's weight_bits (danp: master
x D rounded), clipped. D has 16 fraction bits. Biases are not trained.

Options (issue 20): P perturbed passes per sample against the one clean pass, each reward divided by P (the update
is their average); B samples' updates summed in acc_bits-wide accumulators (DANP: and D's correlations) before the
master weights, D and the chip weights are written once; `adam` turns the accumulated update into a step by a
fixed-point Adam (rules.adam_step) with m and v per weight in SRAM. B = P = 1 with sgd is the rule above exactly.
`local_readout`: the readout is not perturbed and learns by the delta rule from the output core's error,
dV = -eta (o - y) h_T^T (danp: h~ = D h), once per sample; the reward, N and ||delta a||^2 cover the hidden layers
only. `gate`: a relu layer's e_t is zeroed on the node-steps whose clean pre-activation is outside (0, 1) (the
reward is unchanged). `lr_decay`: eta * lr_decay^epoch; `halve_at`: eta halved once at each of these sample counts
(a shift of the reward's scale). Weight decay (`decay_shift` K, `decay_every` N): at every N-th weight write each
core also takes round(master / 2^K) off every master weight it holds, in the write's read-modify-write (one
shift-and-subtract per weight, counted; BPTT: w -= w / 2^K every N samples); `decay_coupled`: a write counts as
rate / lr writes towards N, so that the decay falls with the rate. `input_shift` S: the hidden layers'
input (not recurrent) weights learn from g >> S; `readout_shift` R: the readout learns from its error's scale
(local readout) or g shifted right by R (the output core shifts it: rate lr / 2^R for the readout, lr for the
hidden layers). `validation` N: the last N training samples are held out of training and tested after every
epoch (hyper-parameters are chosen on them, never on the test set). Weight averaging (`average_shift` K): each
core keeps A = avg 2^K (master units with K more fraction bits, an acc_bits word per weight, started at the initial
weights) and at every weight write adds w - round(A / 2^K), w the chip weight just computed before its rounding
(master; danp: master x D): avg += (w - avg) / 2^K; accuracies are those of round(avg) (clipped), which the chip
holds at the end (BPTT: the same average of its float weights after every sample).
"""

from coresim.learn.train import RULES, train

__all__ = ["RULES", "train"]
