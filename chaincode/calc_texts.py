"""The steps of the afforestation calculation in words, English and Chinese: the labels
and explanations that the explorer's calculator page (``explorer/calculator.py``) and the
portal's live calculator (``portal/calc.py``) print beside the figures of the free
calculation service (``chaincode/calc_service.py``), which runs the contract's own code.
One table, so the two say the same thing. Keys are the figure or step; values
``(English, 中文)``."""

from __future__ import annotations

__all__ = ["CALC_TEXTS"]

CALC_TEXTS: dict[str, tuple[str, str]] = {
    "step1": (
        "Step 1 — from stand volume to CO₂e, per plot and species",
        "第一步 —— 由蓄积量到二氧化碳当量（按地块和树种）",
    ),
    "step1_help": (
        "Biomass = V × WD × BEF × (1 + R) (above and below ground, t dry matter); carbon "
        "= biomass × CF (t C); CO₂e change = (carbon at the end − carbon at the start) × "
        "44/12.",
        "生物量 = V × WD × BEF × (1 + R)（地上与地下，吨干物质）；碳储量 = 生物量 × CF（吨碳）；二氧化碳当量变化 = (期末碳储量 − "
        "期初碳储量) × 44/12。",
    ),
    "volume": ("Volume, m³ (start → end)", "蓄积量（立方米，期初 → 期末）"),
    "biomass": ("Biomass, t (start → end)", "生物量（吨，期初 → 期末）"),
    "carbon": ("Carbon, t C (start → end)", "碳储量（吨碳，期初 → 期末）"),
    "co2e": ("CO₂e change, t", "CO₂e 变化（吨）"),
    "sampling": (
        "Step 2 — sampling precision (stratified sample plots)",
        "第二步 —— 抽样精度（分层样地）",
    ),
    "sampling_help": (
        "Each stratum's sample plots give a mean stock per hectare and its variance s²; "
        "the total T adds every stratum (area × mean) and every census plot. The 90 % "
        "confidence half-width is t × √Var. If it is wider than the target share of T, "
        "every plot's stock is multiplied by the factor (T − half-width) / T: the "
        "conservative lower bound.",
        "每层样地给出每公顷平均碳储量及方差 s²；总量 T 为各层（面积 × 均值）与全面调查地块之和。90% 置信区间半宽 = t × √Var。若半宽超过 T "
        "的目标比例，则各地块碳储量乘以系数 (T − 半宽) / T，即取保守的置信下限。",
    ),
    "stratum": ("Stratum", "层"),
    "n": ("Sample plots n", "样地数 n"),
    "volume_per_ha": ("Volume, m³/ha", "蓄积量（立方米/公顷）"),
    "mean": ("Mean, t CO₂e/ha", "均值（吨二氧化碳当量/公顷）"),
    "variance": ("Variance s²", "方差 s²"),
    "total": ("Total, t CO₂e", "合计（吨二氧化碳当量）"),
    "T": ("Total T, t CO₂e", "总量 T（吨二氧化碳当量）"),
    "var": ("Variance of T", "T 的方差"),
    "df": ("Degrees of freedom", "自由度"),
    "t": ("Student's t (90 %)", "t 值（90%）"),
    "half_width": ("Half-width, t CO₂e", "半宽（吨二氧化碳当量）"),
    "relative": ("Half-width / T", "半宽 / T"),
    "target": ("Target", "目标精度"),
    "factor": ("Factor applied", "采用系数"),
    "stocks": ("Step 3 — stocks and the high-water mark", "第三步 —— 碳储量与最高水位"),
    "stocks_help": (
        "Only growth above each plot's highest verified stock (the high-water mark) is "
        "credited: growth = max(0, end − mark). A fall below the start stock is a "
        "reversal.",
        "只有超过地块此前最高核证碳储量（最高水位）的增长才计入：增长 = max(0, 期末 − 最高水位)。低于期初碳储量的下降属于逆转。",
    ),
    "start_stock": ("Start stock S", "期初碳储量 S"),
    "mark": ("High-water mark H", "最高水位 H"),
    "end_stock": ("End stock E", "期末碳储量 E"),
    "growth": ("Growth above H", "超过 H 的增长"),
    "fall": ("Fall below S", "低于 S 的下降"),
    "step4": ("Step 4 — from growth to issuable tonnes", "第四步 —— 由增长到可签发量"),
    "step4_help": (
        "ER = growth − baseline − leakage − project emissions; issuable = ER × (1 − "
        "deduction), rounded down to whole tonnes (0 if ER ≤ 0); the buffer pool takes "
        "issuable × buffer rate, rounded up; the owner gets the rest.",
        "减排量 ER = 增长 − 基线 − 泄漏 − 项目排放；可签发量 = ER × (1 − 扣减比例)，向下取整到吨（ER ≤ 0 时为 0）；缓冲池取 "
        "可签发量 × 缓冲比例，向上取整；其余归业主。",
    ),
    "total_growth": ("Growth above the marks", "超过最高水位的增长合计"),
    "baseline": ("Baseline for the period", "本监测期基线"),
    "er": ("Emission reductions ER", "减排量 ER"),
    "deduction": ("Uncertainty deduction", "不确定性扣减"),
    "issuable_row": ("Issuable (whole tonnes, rounded down)", "可签发量（整吨，向下取整）"),
    "buffer_rate": ("Buffer rate", "缓冲比例"),
    "to_buffer": ("To the buffer pool (rounded up)", "进入缓冲池（向上取整）"),
    "to_owner": ("To the owner", "归业主"),
    "species": ("Species", "树种"),
    "area": ("Area, ha", "面积（公顷）"),
    "issuable": (
        "Issuable: {n} t CO₂e — {owner} t to the owner, {buffer} t to the buffer pool",
        "可签发：{n} 吨二氧化碳当量 —— 业主 {owner} 吨，缓冲池 {buffer} 吨",
    ),
}
