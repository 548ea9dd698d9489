"""Numba kernels: helix propagation through the layers with multiple scattering, module lookup.

The field is a uniform solenoid along +z. Between layers a particle moves on a helix; at each layer
crossing its direction is kicked by two independent Gaussian angles with the Highland width
(PDG Review "Passage of particles through matter", eq. 34.15) for the layer's x/X0 seen at the
crossing angle. Energy loss is neglected. A particle is followed for at most ``max_turn`` radians of
transverse turning (pi = the outgoing half of a looper), which also means every surface is crossed at
most once: r and |z| grow monotonically along that stretch for a particle from the beam line.
"""

from __future__ import annotations

import math

import numpy as np

from ..extras import require

njit = require("numba").njit

# mm per (GeV / T): the radius of curvature of a unit-pT unit-charge particle in a 1 T field.
MM_PER_GEV_PER_TESLA = 1000.0 / 0.299792458
C_MM_PER_NS = 299.792458
BARREL = 0


@njit(cache=True)
def _wrap(angle):
    return (angle + math.pi) % (2.0 * math.pi) - math.pi


@njit(cache=True)
def propagate_particles(vx, vy, vz, px, py, pz, q, mass, kind, a, lo, hi, x_over_x0, bz, kicks, max_turn):
    """Follow every particle through the surfaces; return its crossings in particle order.

    ``kicks`` holds standard normals, ``[particle, crossing, 2]``; ``kind/a/lo/hi`` describe the
    surfaces (barrel: radius ``a``, ``lo < z < hi``; disk: ``z = a``, ``lo < r < hi``).
    Returns (count, particle, surface, x, y, z, t, px, py, pz, dpx, dpy, dpz, index along particle);
    momenta are taken just before the crossing, ``d*`` is the change the scattering made.
    """
    n_particles = vx.shape[0]
    n_surfaces = kind.shape[0]
    cap = n_particles * n_surfaces
    out_particle = np.empty(cap, np.int64)
    out_surface = np.empty(cap, np.int64)
    out_pos = np.empty((cap, 4), np.float64)
    out_mom = np.empty((cap, 3), np.float64)
    out_delta = np.empty((cap, 3), np.float64)
    out_index = np.empty(cap, np.int64)
    count = 0
    for ip in range(n_particles):
        x, y, z = vx[ip], vy[ip], vz[ip]
        pt = math.hypot(px[ip], py[ip])
        if pt <= 0.0 or q[ip] == 0:
            continue
        p_total = math.sqrt(pt * pt + pz[ip] * pz[ip])
        energy = math.sqrt(p_total * p_total + mass * mass)
        beta = p_total / energy
        phi = math.atan2(py[ip], px[ip])
        cot_theta = pz[ip] / pt
        t = 0.0
        turned = 0.0
        last = -1
        n_cross = 0
        while n_cross < n_surfaces:
            radius = pt * MM_PER_GEV_PER_TESLA / abs(bz)
            # Helicity: +1 turns counter-clockwise seen from +z (negative charge in +Bz).
            h = -1.0 if q[ip] * bz > 0 else 1.0
            cx = x - h * radius * math.sin(phi)
            cy = y + h * radius * math.cos(phi)
            c_dist = math.hypot(cx, cy)
            gamma = math.atan2(cy, cx)
            best = max_turn - turned
            best_surface = -1
            for s in range(n_surfaces):
                if s == last:
                    continue
                if kind[s] == BARREL:
                    if c_dist <= 0.0:
                        continue
                    k = (a[s] * a[s] - c_dist * c_dist - radius * radius) / (2.0 * h * radius * c_dist)
                    if k < -1.0 or k > 1.0:
                        continue
                    base = math.asin(k)
                    for sol in range(2):
                        psi = gamma + base if sol == 0 else gamma + math.pi - base
                        alpha = (h * (psi - phi)) % (2.0 * math.pi)
                        if alpha <= 1e-9 or alpha >= best:
                            continue
                        zc = z + radius * alpha * cot_theta
                        if lo[s] < zc < hi[s]:
                            best = alpha
                            best_surface = s
                else:
                    dz = a[s] - z
                    if dz * cot_theta <= 0.0:
                        continue
                    alpha = dz / cot_theta / radius
                    if alpha <= 1e-12 or alpha >= best:
                        continue
                    phi_new = phi + h * alpha
                    xc = cx + h * radius * math.sin(phi_new)
                    yc = cy - h * radius * math.cos(phi_new)
                    rc = math.hypot(xc, yc)
                    if lo[s] < rc < hi[s]:
                        best = alpha
                        best_surface = s
            if best_surface < 0:
                break
            s = best_surface
            arc = radius * best
            phi = phi + h * best
            if kind[s] == BARREL:
                x = cx + h * radius * math.sin(phi)
                y = cy - h * radius * math.cos(phi)
                z = z + arc * cot_theta
            else:
                x = cx + h * radius * math.sin(phi)
                y = cy - h * radius * math.cos(phi)
                z = a[s]
            t += arc * math.sqrt(1.0 + cot_theta * cot_theta) / (beta * C_MM_PER_NS)
            turned += best
            last = s
            # Momentum before the crossing.
            mx, my, mz = pt * math.cos(phi), pt * math.sin(phi), pt * cot_theta
            # Highland width for the path length through the layer at this incidence.
            ux, uy, uz = mx / p_total, my / p_total, mz / p_total
            if kind[s] == BARREL:
                r_here = math.hypot(x, y)
                cos_inc = abs(ux * x / r_here + uy * y / r_here)
            else:
                cos_inc = abs(uz)
            thickness = x_over_x0[s] / max(cos_inc, 1e-3)
            theta0 = 0.0136 / (beta * p_total) * math.sqrt(thickness) * (1.0 + 0.038 * math.log(thickness))
            theta0 = max(theta0, 0.0)
            k1 = kicks[ip, n_cross, 0] * theta0
            k2 = kicks[ip, n_cross, 1] * theta0
            # Two axes perpendicular to the direction: transverse (e1) and "polar" (e2).
            sin_th = pt / p_total
            e1x, e1y = -math.sin(phi), math.cos(phi)
            e2x, e2y, e2z = -uz * math.cos(phi), -uz * math.sin(phi), sin_th
            nx = ux + k1 * e1x + k2 * e2x
            ny = uy + k1 * e1y + k2 * e2y
            nz = uz + k2 * e2z
            norm = math.sqrt(nx * nx + ny * ny + nz * nz)
            nx, ny, nz = nx / norm, ny / norm, nz / norm
            new_pt = p_total * math.hypot(nx, ny)

            out_particle[count] = ip
            out_surface[count] = s
            out_pos[count, 0] = x
            out_pos[count, 1] = y
            out_pos[count, 2] = z
            out_pos[count, 3] = t
            out_mom[count, 0] = mx
            out_mom[count, 1] = my
            out_mom[count, 2] = mz
            out_delta[count, 0] = p_total * nx - mx
            out_delta[count, 1] = p_total * ny - my
            out_delta[count, 2] = p_total * nz - mz
            out_index[count] = n_cross
            count += 1
            n_cross += 1

            if new_pt <= 0.0:
                break
            pt = new_pt
            phi = math.atan2(ny, nx)
            cot_theta = p_total * nz / pt
    return (
        count,
        out_particle[:count],
        out_surface[:count],
        out_pos[:count],
        out_mom[:count],
        out_delta[:count],
        out_index[:count],
    )


@njit(cache=True)
def find_modules(surface, x, y, z, kind, row_start, centre, n_phi, hu_min, hu_max, hv, id0, reach):
    """Every module that contains each crossing (overlapping modules give several).

    Barrel modules are curved on their cylinder (local u = r * dphi, v = z - z_centre); endcap
    modules are flat trapezoids in the disk plane (v along the module's radial axis). Returns
    (crossing index, row, phi index, module id, local u, local v) per (crossing, module) pair.
    """
    n = surface.shape[0]
    cap = 4 * n + 16
    out_cross = np.empty(cap, np.int64)
    out_row = np.empty(cap, np.int64)
    out_iphi = np.empty(cap, np.int64)
    out_u = np.empty(cap, np.float64)
    out_v = np.empty(cap, np.float64)
    count = 0
    two_pi = 2.0 * math.pi
    for i in range(n):
        s = surface[i]
        r = math.hypot(x[i], y[i])
        phi = math.atan2(y[i], x[i])
        for row in range(row_start[s], row_start[s + 1]):
            if kind[s] == BARREL:
                v = z[i] - centre[row]
                if abs(v) >= hv[row]:
                    continue
            elif abs(r - centre[row]) >= hv[row] + hu_max[row]:
                continue
            nphi = n_phi[row]
            nominal = int(math.floor((phi + math.pi) / two_pi * nphi))  # noqa: RUF046 - pins numba's integer type
            for off in range(-reach[row], reach[row] + 1):
                iphi = (nominal + off) % nphi
                phi_c = two_pi * (iphi + 0.5) / nphi - math.pi
                dphi = _wrap(phi - phi_c)
                if kind[s] == BARREL:
                    u = r * dphi
                    if abs(u) >= hu_min[row]:
                        continue
                    v = z[i] - centre[row]
                else:
                    u = r * math.sin(dphi)
                    v = r * math.cos(dphi) - centre[row]
                    if abs(v) >= hv[row]:
                        continue
                    half_u = hu_min[row] + (hu_max[row] - hu_min[row]) * (v + hv[row]) / (2.0 * hv[row])
                    if abs(u) >= half_u:
                        continue
                if count == cap:
                    grown = 2 * cap
                    out_cross = _grow_i(out_cross, grown)
                    out_row = _grow_i(out_row, grown)
                    out_iphi = _grow_i(out_iphi, grown)
                    out_u = _grow_f(out_u, grown)
                    out_v = _grow_f(out_v, grown)
                    cap = grown
                out_cross[count] = i
                out_row[count] = row
                out_iphi[count] = iphi
                out_u[count] = u
                out_v[count] = v
                count += 1
    module_id = np.empty(count, np.int64)
    for j in range(count):
        module_id[j] = id0[out_row[j]] + out_iphi[j] + 1
    return out_cross[:count], out_row[:count], out_iphi[:count], module_id, out_u[:count], out_v[:count]


@njit(cache=True)
def _grow_i(arr, size):
    out = np.empty(size, np.int64)
    out[: arr.shape[0]] = arr
    return out


@njit(cache=True)
def _grow_f(arr, size):
    out = np.empty(size, np.float64)
    out[: arr.shape[0]] = arr
    return out


@njit(cache=True)
def hits_on_modules(surface, pos, mom, charge, mass, bz, layer_kind, band_lo, band_hi, n_phi, n_c, c_lo,
                    c_step, cell_offset, cell_start, cell_modules, centre, rotation, half_u_min, half_u_max,
                    half_v):  # fmt: skip
    """Intersect the helix at each nominal-surface crossing with the real module planes near it.

    A crossing (surface, ``pos`` = x, y, z, t, ``mom`` = momentum before the kick, ``charge``) is
    followed on its helix, forwards or backwards, to the mid-plane of every module whose grid cell lies
    on the straight path through the layer's band of module positions (``band_lo..band_hi``: r for a
    barrel, z for a disk); a module plane crossed inside its trapezoid gives a hit. Two overlapping
    modules give two hits. Returns (crossing, module row, local u, local v, x, y, z, t, px, py, pz, alpha)
    per hit; ``alpha`` is the signed turning angle from the nominal crossing, which orders the hits of
    one crossing along the particle. Hits come in crossing order, and by ``alpha`` within a crossing.
    The scattering kick stays at the nominal surface: a module a few mm away sees the helix before the kick.
    """
    n = surface.shape[0]
    cap = 2 * n + 16
    out_cross = np.empty(cap, np.int64)
    out_module = np.empty(cap, np.int64)
    out_f = np.empty((cap, 10), np.float64)
    stamp = np.full(centre.shape[0], -1, np.int64)
    count = 0
    two_pi = 2.0 * math.pi
    for i in range(n):
        s = surface[i]
        x0, y0, z0, t0 = pos[i, 0], pos[i, 1], pos[i, 2], pos[i, 3]
        mx, my, mz = mom[i, 0], mom[i, 1], mom[i, 2]
        pt = math.hypot(mx, my)
        p_total = math.sqrt(pt * pt + mz * mz)
        if pt <= 0.0:
            continue
        beta = p_total / math.sqrt(p_total * p_total + mass * mass)
        radius = pt * MM_PER_GEV_PER_TESLA / abs(bz)
        h = -1.0 if charge[i] * bz > 0 else 1.0
        phi0 = math.atan2(my, mx)
        cot_theta = mz / pt
        hcx = x0 - h * radius * math.sin(phi0)
        hcy = y0 + h * radius * math.cos(phi0)
        # Straight path through the band of module positions: the candidate cells lie along it.
        dx, dy, dz = mx / p_total, my / p_total, mz / p_total
        r0 = math.hypot(x0, y0)
        if layer_kind[s] == BARREL:
            slope = (x0 * dx + y0 * dy) / r0
            ref = r0
        else:
            slope = dz
            ref = z0
        limit = 60.0
        if abs(slope) > 1e-6:
            ta = min(max((band_lo[s] - ref) / slope, -limit), limit)
            tb = min(max((band_hi[s] - ref) / slope, -limit), limit)
        else:
            ta, tb = -limit, limit
        phi_ref = math.atan2(y0, x0)
        dphi_lo, dphi_hi, c_min, c_max = 0.0, 0.0, 1e30, -1e30
        for k in range(3):
            tt = 0.0 if k == 0 else (ta if k == 1 else tb)
            px_, py_, pz_ = x0 + tt * dx, y0 + tt * dy, z0 + tt * dz
            dphi = _wrap(math.atan2(py_, px_) - phi_ref)
            dphi_lo = min(dphi_lo, dphi)
            dphi_hi = max(dphi_hi, dphi)
            c = pz_ if layer_kind[s] == BARREL else math.hypot(px_, py_)
            c_min = min(c_min, c)
            c_max = max(c_max, c)
        margin = 1.0
        r_small = max(min(r0, band_lo[s] if layer_kind[s] == BARREL else r0), 1.0)
        step_phi = two_pi / n_phi[s]
        ip_lo = int(math.floor((phi_ref + dphi_lo - margin / r_small + math.pi) / step_phi))  # noqa: RUF046
        ip_hi = int(math.floor((phi_ref + dphi_hi + margin / r_small + math.pi) / step_phi))  # noqa: RUF046
        ic_lo = max(int(math.floor((c_min - margin - c_lo[s]) / c_step[s])), 0)  # noqa: RUF046
        ic_hi = min(int(math.floor((c_max + margin - c_lo[s]) / c_step[s])), n_c[s] - 1)  # noqa: RUF046
        if ip_hi - ip_lo >= n_phi[s]:
            ip_lo, ip_hi = 0, n_phi[s] - 1
        first_hit = count
        for ip in range(ip_lo, ip_hi + 1):
            ipw = ip % n_phi[s]
            for ic in range(ic_lo, ic_hi + 1):
                cell = cell_offset[s] + ipw * n_c[s] + ic
                for j in range(cell_start[cell], cell_start[cell + 1]):
                    m = cell_modules[j]
                    if stamp[m] == i:
                        continue
                    stamp[m] = i
                    wx, wy, wz = rotation[m, 0, 2], rotation[m, 1, 2], rotation[m, 2, 2]
                    ex, ey, ez = x0 - centre[m, 0], y0 - centre[m, 1], z0 - centre[m, 2]
                    # The straight line rejects most candidates before the helix is solved: within a few
                    # cm of the crossing the helix deviates from it by well under a millimetre.
                    d_w = dx * wx + dy * wy + dz * wz
                    if abs(d_w) < 1e-9:
                        continue
                    step = -(ex * wx + ey * wy + ez * wz) / d_w
                    if abs(step) > 2.0 * limit:
                        continue
                    lx, ly, lz = ex + step * dx, ey + step * dy, ez + step * dz
                    v = lx * rotation[m, 0, 1] + ly * rotation[m, 1, 1] + lz * rotation[m, 2, 1]
                    if abs(v) >= half_v[m] + 1.0:
                        continue
                    u = lx * rotation[m, 0, 0] + ly * rotation[m, 1, 0] + lz * rotation[m, 2, 0]
                    if abs(u) >= max(half_u_min[m], half_u_max[m]) + 1.0:
                        continue
                    # Newton on f(alpha) = (helix(alpha) - centre) . w, from the straight-line guess.
                    alpha = step * pt / (p_total * radius)
                    ok = False
                    for _ in range(4):
                        phi_a = phi0 + h * alpha
                        hx = hcx + h * radius * math.sin(phi_a)
                        hy = hcy - h * radius * math.cos(phi_a)
                        hz = z0 + radius * alpha * cot_theta
                        f = (hx - centre[m, 0]) * wx + (hy - centre[m, 1]) * wy + (hz - centre[m, 2]) * wz
                        df = radius * (math.cos(phi_a) * wx + math.sin(phi_a) * wy + cot_theta * wz)
                        if abs(f) < 1e-5:
                            ok = True
                            break
                        if abs(df) < 1e-9:
                            break
                        alpha -= f / df
                    if not ok or abs(alpha) * radius > 2.0 * limit:
                        continue
                    phi_a = phi0 + h * alpha
                    hx = hcx + h * radius * math.sin(phi_a)
                    hy = hcy - h * radius * math.cos(phi_a)
                    hz = z0 + radius * alpha * cot_theta
                    ex, ey, ez = hx - centre[m, 0], hy - centre[m, 1], hz - centre[m, 2]
                    v = ex * rotation[m, 0, 1] + ey * rotation[m, 1, 1] + ez * rotation[m, 2, 1]
                    if abs(v) >= half_v[m]:
                        continue
                    u = ex * rotation[m, 0, 0] + ey * rotation[m, 1, 0] + ez * rotation[m, 2, 0]
                    half_u = half_u_min[m] + (half_u_max[m] - half_u_min[m]) * (v + half_v[m]) / (2.0 * half_v[m])
                    if abs(u) >= half_u:
                        continue
                    if count == cap:
                        cap *= 2
                        out_cross = _grow_i(out_cross, cap)
                        out_module = _grow_i(out_module, cap)
                        grown = np.empty((cap, 10), np.float64)
                        grown[:count] = out_f[:count]
                        out_f = grown
                    arc = radius * alpha * math.sqrt(1.0 + cot_theta * cot_theta)
                    out_cross[count] = i
                    out_module[count] = m
                    out_f[count, 0] = u
                    out_f[count, 1] = v
                    out_f[count, 2] = hx
                    out_f[count, 3] = hy
                    out_f[count, 4] = hz
                    out_f[count, 5] = t0 + arc / (beta * C_MM_PER_NS)
                    out_f[count, 6] = pt * math.cos(phi_a)
                    out_f[count, 7] = pt * math.sin(phi_a)
                    out_f[count, 8] = mz
                    out_f[count, 9] = alpha
                    count += 1
        # The hits of one crossing (overlapping modules: rarely more than two) in order along the particle.
        for a in range(first_hit + 1, count):
            b = a
            while b > first_hit and out_f[b - 1, 9] > out_f[b, 9]:
                for col in range(10):
                    tmp = out_f[b - 1, col]
                    out_f[b - 1, col] = out_f[b, col]
                    out_f[b, col] = tmp
                tmp_m = out_module[b - 1]
                out_module[b - 1] = out_module[b]
                out_module[b] = tmp_m
                b -= 1
    return out_cross[:count], out_module[:count], out_f[:count]
