"""Every label of the explorer in English and Chinese, in one dictionary.

Chinese labels use the domain terms of DOMAIN.md: 备案 (registration), 审定 (validation),
核证 (verification), 签发 (issuance), 注销 (retirement), 履约抵消 (compliance offset),
缓冲池 (buffer pool), 项目业主 (owner), 审定与核查机构 (verifier), 碳交易机构 (exchange),
控排企业 (compliance enterprise), 监测报告 / 监测期 (monitoring report / period).

:data:`LABELS` maps a label key to ``{"en": ..., "zh": ...}``; :data:`VALUES` maps a
group of ledger enum values (project status, role, unit state, ...) to labels of each
value. Unknown values are shown as they are (escaped by the templates). Both are written
below as tables of ``(English, Chinese)`` pairs.
"""

from __future__ import annotations

from collections.abc import Mapping

from markupsafe import Markup

from chaincode.calc_texts import CALC_TEXTS

__all__ = ["DEFAULT_LANG", "FIELDS", "LABELS", "LANGS", "VALUES", "Translator", "choose_lang"]

LANGS = ("en", "zh")
DEFAULT_LANG = "en"
COOKIE = "fcl_lang"

Texts = tuple[str, str]  # (English, Chinese): the order of LANGS


def _by_lang(table: Mapping[str, Texts]) -> dict[str, dict[str, str]]:
    """``{key: (en, zh)}`` as ``{key: {"en": en, "zh": zh}}``."""
    return {key: dict(zip(LANGS, texts, strict=True)) for key, texts in table.items()}


LABELS: dict[str, dict[str, str]] = _by_lang({
    # -- site ---------------------------------------------------------------------------
    "site_title": ("Forest Carbon Ledger explorer", "林业碳汇账本浏览器"),
    "nav_dashboard": ("Dashboard", "概览"),
    "nav_blocks": ("Blocks", "区块"),
    "nav_orgs": ("Organisations", "机构"),
    "nav_projects": ("Projects", "项目"),
    "nav_batches": ("Issuance", "签发"),
    "nav_retirements": ("Retirements", "注销"),
    "nav_buffer": ("Buffer pool", "缓冲池"),
    "nav_verify": ("Verify a certificate", "验证注销证明"),
    "search": ("Search", "搜索"),
    "search_placeholder": (
        "tx id, block height, serial number, project, account",
        "交易哈希、区块高度、序列号、项目编号、账户",
    ),
    "search_hint": (
        "Search by transaction id, block height or hash, serial number (CCER-… or "
        "project:unit), project, organisation/account, batch, report, attestation or plot id.",
        "可按交易哈希、区块高度或哈希、序列号（CCER-… 或 项目:单位号）、项目编号、"
        "机构/账户、签发批次、监测报告、审定/核证意见或地块编号搜索。",
    ),
    "switch_lang": ("中文", "English"),
    "read_only_note": (
        "Read-only view of committed blocks. Nothing here holds keys or writes the ledger.",
        "仅显示已提交区块的数据；本页面不持有密钥，也不写入账本。",
    ),
    "json": ("JSON", "JSON"),
    "csv": ("CSV", "CSV"),
    "next_page": ("Next page", "下一页"),
    "first_page": ("First page", "第一页"),
    "none": ("None", "无"),
    "yes": ("yes", "是"),
    "no": ("no", "否"),
    "details": ("Details", "详情"),
    "error": ("Error", "错误"),
    "error_code": ("Error code", "错误代码"),
    "back_home": ("Back to the dashboard", "返回概览"),
    # -- dashboard ------------------------------------------------------------------------
    "dashboard": ("Dashboard", "概览"),
    "chain_id": ("Chain id", "链标识"),
    "genesis_hash": ("Genesis hash", "创世哈希"),
    "genesis_hash_help": (
        "SHA-256 of the canonical genesis document: pass it to fcl verify --genesis-hash",
        "规范化创世文档的 SHA-256：用于 fcl verify --genesis-hash",
    ),
    "height": ("Height", "高度"),
    "round": ("Round", "轮次"),
    "peers": ("Peers", "对等节点"),
    "tx_rate": ("Transactions per second", "每秒交易数"),
    "tx_rate_note": (
        "committed over the last {n} s",
        "按最近 {n} 秒已提交的交易计算",
    ),
    "tip_age": ("last block {s} s ago", "最新区块于 {s} 秒前"),
    "validator_signing": ("signing", "正常签署"),
    "validator_lagging": ("lagging", "滞后"),
    "validator_absent": ("absent", "缺席"),
    "signed_of": ("signed {k} of the last {n} blocks", "最近 {n} 个区块中签署 {k} 个"),
    "last_seen": ("last seen", "最后签署"),
    "node": ("Node", "节点"),
    "mempool": ("Pending transactions", "待处理交易"),
    "halted": ("Block production stopped", "出块已停止"),
    "validators": ("Validators", "验证节点"),
    "validator": ("Validator", "验证节点"),
    "power": ("Voting power", "投票权重"),
    "public_key": ("Public key", "公钥"),
    "signed_latest": ("Signed the latest block", "已签署最新区块"),
    "validator_status": ("Status", "状态"),
    "totals": ("Credit totals (t CO₂e)", "碳信用总量（吨二氧化碳当量）"),
    "issued": ("Issued", "已签发"),
    "retired": ("Retired", "已注销"),
    "in_buffer": ("In buffer pool", "缓冲池持有"),
    "held": ("Held", "持有"),
    "listed": ("Listed", "挂牌中"),
    "cancelled": ("Cancelled", "已作废"),
    "frozen": ("Frozen", "已冻结"),
    "buffer": ("Buffer pool", "缓冲池"),
    "projects_count": ("Projects", "项目数"),
    "batches_count": ("Issuance batches", "签发批次数"),
    "recent_blocks": ("Recent blocks", "最新区块"),
    "chart_title": (
        "Issued and retired by vintage (t CO₂e)",
        "按年份（监测期）统计的签发量与注销量（吨二氧化碳当量）",
    ),
    "chart_empty": ("Nothing issued yet.", "尚无签发。"),
    # -- blocks and transactions ----------------------------------------------------------
    "blocks": ("Blocks", "区块"),
    "block": ("Block", "区块"),
    "block_hash": ("Block hash", "区块哈希"),
    "time": ("Time", "时间"),
    "txs": ("Transactions", "交易"),
    "tx_count": ("Transactions", "交易数"),
    "proposer": ("Proposer", "提议节点"),
    "prev_hash": ("Previous block", "上一区块"),
    "next_block": ("Next block", "下一区块"),
    "header": ("Header", "区块头"),
    "commit": ("Commit certificate", "提交证明"),
    "commit_round": ("Round", "轮次"),
    "signatures": ("Signatures", "签名"),
    "signature": ("Signature", "签名"),
    "tx": ("Transaction", "交易"),
    "tx_id": ("Transaction id", "交易哈希"),
    "index": ("Index in block", "区块内序号"),
    "contract": ("Contract", "合约"),
    "method": ("Method", "方法"),
    "args": ("Arguments", "参数"),
    "signers": ("Signers", "签名人"),
    "nonce": ("Nonce", "随机数"),
    "result": ("Result", "执行结果"),
    "result_ok": ("succeeded", "成功"),
    "result_failed": ("failed", "失败"),
    "message": ("Message", "说明"),
    "events": ("Events", "事件"),
    "related": ("Related records", "相关记录"),
    "not_a_member": ("not an enrolled key", "非登记密钥"),
    # -- organisations and accounts -------------------------------------------------------
    "orgs": ("Organisations and roles", "机构与角色"),
    "org": ("Organisation", "机构"),
    "org_id": ("Organisation id", "机构编号"),
    "name": ("Name", "名称"),
    "roles": ("Roles", "角色"),
    "status": ("Status", "状态"),
    "accreditation": ("Accreditation", "资质编号"),
    "accreditation_valid_until": ("Accreditation valid until", "资质有效期至"),
    "enrolled_at": ("Enrolled at height", "登记高度"),
    "keys": ("Member keys", "成员密钥"),
    "admin": ("Admin", "管理员"),
    "account": ("Account", "账户"),
    "holdings": ("Holdings (t CO₂e)", "持有情况（吨二氧化碳当量）"),
    "ranges": ("Serial ranges", "序列号区间"),
    "buffer_account_note": (
        "The buffer pool holds the non-permanence reserve of every issuance; loss "
        "events cancel units from it.",
        "缓冲池持有每次签发中按非持久性风险留存的部分；损失事件从中作废相应数量。",
    ),
    # -- stock accounting and the buffer pool per project -------------------------------
    "stocks": ("Stock accounting", "碳储量核算"),
    "stock_note": (
        "Carbon stocks in t CO₂e, exact to 0.000001 t (micro-tonnes, rounded down). Only "
        "growth above a plot's high-water mark earns credits; a fall below its last "
        "verified stock is reversed: whole tonnes (rounded up), net of loss events already "
        "cancelled for the plot, are cancelled from the buffer pool.",
        "碳储量单位为吨二氧化碳当量，精确到 0.000001 吨（微吨，向下取整）。只有超过地块历史最高"
        "储量的增长才可签发；低于上次核证储量的下降即为逆转：按整吨（向上取整）扣除已由损失事件"
        "作废的部分后，从缓冲池作废。",
    ),
    "stock_s": ("Verified stock S (t CO₂e)", "核证碳储量 S（吨二氧化碳当量）"),
    "high_water": ("High-water mark H (t CO₂e)", "历史最高储量 H（吨二氧化碳当量）"),
    "credited": ("Credited growth (t CO₂e)", "计入签发的增长（吨二氧化碳当量）"),
    "reversed": ("Reversed (t)", "逆转（吨）"),
    "pending_loss": ("Loss events pending settlement (t)", "待结算损失事件（吨）"),
    "verified_periods": ("Verified periods", "已核证监测期"),
    "last_period_end": ("last period ended", "上一监测期截止"),
    "stock_history": ("Stock history", "储量历史"),
    "stock_start": ("Start S (t CO₂e)", "期初 S（吨二氧化碳当量）"),
    "stock_end": ("End E (t CO₂e)", "期末 E（吨二氧化碳当量）"),
    "loss_events_settled": ("Loss events settled (t)", "结算的损失事件（吨）"),
    "fall": ("Fall (t, rounded up)", "下降（吨，向上取整）"),
    "reversal": ("Reversal", "逆转"),
    "reversals": ("Reversals", "逆转"),
    "reversal_note": (
        "The verified stock of this report's plots fell; the fall, net of loss events "
        "already cancelled, was cancelled from the buffer pool when the report was verified.",
        "本报告核证的地块碳储量下降；扣除已由损失事件作废的部分后，下降量在核证时从缓冲池作废。",
    ),
    "per_plot": ("Per plot", "按地块"),
    "per_project": ("Per project", "按项目"),
    "pool_account": ("Buffer pool account", "缓冲池账户"),
    "pool_balance": ("Balance in the pool (t)", "缓冲池余额（吨）"),
    "contributed": ("Contributed (t)", "划入缓冲池（吨）"),
    "compensation_repaid": ("Compensation repaid (t)", "已偿还补偿（吨）"),
    "cancelled_reversals": ("Cancelled by reversals (t)", "逆转作废（吨）"),
    "cancelled_losses": ("Cancelled by loss events (t)", "损失事件作废（吨）"),
    "cancelled_from": ("Of its units cancelled (t)", "其单位被作废（吨）"),
    "cancelled_from_pool": ("Cancelled from the pool (t)", "从缓冲池作废（吨）"),
    "charged": ("Charged to the project (t)", "计入本项目（吨）"),
    "shortfall": ("Shortfall: compensation owed (t)", "缺口：应补偿（吨）"),
    "compensation": ("Compensation obligation", "补偿义务"),
    "incurred": ("Incurred (t)", "产生（吨）"),
    "outstanding": ("Outstanding (t)", "未偿还（吨）"),
    "open_obligations": ("Open compensation obligations", "未清偿的补偿义务"),
    "pool_events": ("Reversals and loss events", "逆转与损失事件"),
    "date": ("Date (UTC+8)", "日期（北京时间）"),
    "losses": ("Loss events", "损失事件"),
    "cause": ("Cause", "原因"),
    # -- projects -------------------------------------------------------------------------
    "projects": ("Projects", "项目"),
    "project": ("Project", "项目"),
    "project_id": ("Project id", "项目编号"),
    "owner_org": ("Owner", "项目业主"),
    "methodology": ("Methodology", "方法学"),
    "start_date": ("Start date", "开始日期"),
    "crediting_period": ("Crediting period", "计入期"),
    "years": ("years", "年"),
    "baseline": ("Baseline", "基线"),
    "benefit_split": ("Benefit sharing", "收益分配"),
    "split_owner": ("owner", "业主"),
    "split_farmers": ("farmers", "农户"),
    "split_government": ("government", "地方政府"),
    "risk_rating": ("Non-permanence risk", "非持久性风险等级"),
    "pdd_sha256": ("PDD SHA-256", "项目设计文件 SHA-256"),
    "comment_window": ("Public comment window", "公示期"),
    "registration": ("Registration", "备案"),
    "county_code": ("County code", "县级行政区划代码"),
    "plots": ("Forest plots", "林地地块"),
    "plot": ("Plot", "地块"),
    "plot_map": ("Plot map", "地块分布图"),
    "plot_map_note": (
        "Equirectangular projection, north up; coordinates are WGS84/CGCS2000.",
        "等距圆柱投影，上北下南；坐标系为 WGS84/CGCS2000。",
    ),
    "area": ("Area (m², geodesic)", "面积（平方米，椭球面）"),
    "declared_area": ("Declared area (ha)", "申报面积（公顷）"),
    "species": ("Species", "树种"),
    "planting_date": ("Planting date", "造林日期"),
    "tenure": ("Land tenure document", "权属证明"),
    # remote-sensing evidence (chaincode/evidence.py)
    "rs_evidence": ("Remote-sensing evidence", "遥感证据"),
    "sensor": ("Sensor", "传感器"),
    "acquisition_date": ("Acquisition date", "影像获取日期"),
    "imagery_sha256": ("Imagery SHA-256", "影像 SHA-256"),
    "canopy_cover": ("Canopy cover", "郁闭度"),
    # the document behind a hash (docs/documents.md)
    "document": ("document", "文件"),
    "doc_not_here": ("not on this node", "本节点无此文件"),
    "doc_restricted": ("restricted: served only to the regulator and the uploader",
                       "受限：仅向监管机构和上传方提供"),
    "non_forest_evidence": ("Non-forest evidence", "无林地证明"),
    "bbox": ("Bounding box (1e-7°)", "外接矩形（1e-7 度）"),
    "unit_totals": ("Units (t CO₂e)", "碳信用（吨二氧化碳当量）"),
    # -- monitoring, attestation, issuance ----------------------------------------------
    "reports": ("Monitoring periods", "监测期"),
    "report": ("Monitoring report", "监测报告"),
    "period": ("Period", "期间"),
    "vintage": ("Vintage", "年份"),
    "claimed": ("Claimed (t CO₂e)", "申报量（吨）"),
    "computed": ("Computed by the ledger (t CO₂e)", "账本计算量（吨）"),
    "measurements": ("Measurements", "监测数据"),
    "volume_start": ("Stand volume at start (m³)", "期初蓄积量（立方米）"),
    "volume_end": ("Stand volume at end (m³)", "期末蓄积量（立方米）"),
    "parameters": ("Parameters", "参数"),
    "calculation": ("Calculation", "计算过程"),
    "report_sha256": ("Report SHA-256", "监测报告 SHA-256"),
    "attestations": ("Attestations", "审定与核证意见"),
    "attestation": ("Attestation", "审定/核证意见"),
    "kind": ("Kind", "类型"),
    "verifier_org": ("Verifier", "审定与核查机构"),
    "signer_key": ("Signing key", "签名密钥"),
    "subject_sha256": ("Attested document SHA-256", "所审文件 SHA-256"),
    "positive": ("Positive", "结论为通过"),
    "verified_quantity": ("Verified quantity (t CO₂e)", "核证量（吨）"),
    "site_visit_date": ("Site visit", "现场核查日期"),
    "batches": ("Issuance batches", "签发批次"),
    "batch": ("Issuance batch", "签发批次"),
    "batch_id": ("Batch id", "批次编号"),
    "quantity": ("Quantity (t CO₂e)", "数量（吨）"),
    "owner_quantity": ("To the owner", "划入业主"),
    "buffer_quantity": ("To the buffer pool", "划入缓冲池"),
    "buffer_rate": ("Buffer rate", "缓冲比例"),
    "serial": ("Serial numbers", "序列号"),
    "first_unit": ("First unit", "起始单位"),
    "last_unit": ("Last unit", "结束单位"),
    "subsidies": ("Subsidies (on the owner's share)", "补贴（按业主所得部分）"),
    "accrued_date": ("Accrued on", "计提日期"),
    "paid_date": ("Paid on", "支付日期"),
    "payment_ref": ("Payment reference", "支付凭证号"),
    "subsidy_accrued_total": ("Accrued", "应付合计"),
    "subsidy_paid_total": ("Paid", "已付合计"),
    "subsidy_outstanding": ("Outstanding", "未付余额"),
    "benefit_shares": ("Sales and benefit sharing (RMB)", "销售收入与收益分配（元）"),
    "benefit_shares_note": (
        "Only primary sales by the project owner (on the exchange or off it, with a price) "
        "are project income and are split; resales by later holders are not.",
        "仅项目业主的首次销售（场内或场外、有成交价）计为项目收入并分配；后续持有人的转售不分配。",
    ),
    "primary_quantity": ("Sold by the owner (t)", "业主出售量（吨）"),
    "gross": ("Gross", "成交总额"),
    "resale_quantity": ("Resold by later holders (t, not split)", "后续转售量（吨，不分配）"),
    "resale_gross": ("Resale gross (not project income)", "转售总额（非项目收入）"),
    "amount": ("Amount (RMB)", "金额（元）"),
    "rate": ("Rate (RMB per t)", "标准（元/吨）"),
    # -- retirements, trace, certificates --------------------------------------------
    "retirements": ("Retirements", "注销记录"),
    "retirement": ("Retirement", "注销"),
    "purpose": ("Use", "用途"),
    "enterprise": ("Retired by", "注销方"),
    "beneficiary": ("Beneficiary", "受益方"),
    "reason": ("Reason", "事由"),
    "compliance_period": ("Compliance period", "履约期"),
    "certificate": ("Retirement certificate", "注销证明"),
    "certificate_lead": (
        "This certifies that the carbon credits below were retired on the Forest "
        "Carbon Ledger and can never be transferred or retired again.",
        "兹证明下列碳信用已在林业碳汇账本上注销，不可再转让或重复注销。",
    ),
    "certificate_download": ("Download the certificate (JSON)", "下载注销证明（JSON）"),
    "certificate_verify_offline": (
        "Anyone can verify the certificate offline with nothing but the certificate "
        "and the network's genesis. Scan the code to verify it online.",
        "任何人仅凭本证明和网络创世文件即可离线验证；扫描二维码可在线验证。",
    ),
    "certificate_unavailable": (
        "The node cannot build this certificate right now.",
        "节点暂时无法生成该注销证明。",
    ),
    "verification_url": ("Verification page", "验证页面"),
    "no_public_url": ("No QR code: this node has no public URL configured (public_url).",
                      "无二维码：本节点未配置公开地址（public_url）。"),
    "trace": ("Trace of a serial number", "序列号溯源"),
    "trace_lead": (
        "Every signed step from the forest plot to this unit's present state.",
        "从林地地块到该单位当前状态的每一个签名步骤。",
    ),
    "unit": ("Unit", "单位"),
    "current_range": ("Current range", "当前所在区间"),
    "current_state": ("State", "状态"),
    "holder": ("Holder", "持有方"),
    "from": ("From", "转出方"),
    "to": ("To", "转入方"),
    "trace_this": ("Trace", "溯源"),
    "last_updated": ("record last changed by", "记录最近变更于交易"),
    # -- verification -------------------------------------------------------------------
    "verify": ("Verify a retirement certificate", "验证注销证明"),
    "verify_lead": (
        "Upload a certificate file or paste its JSON. The explorer checks it with the "
        "network's genesis only: proofs, block header, validators' signatures.",
        "上传注销证明文件或粘贴其 JSON。浏览器仅依据网络创世文件进行核验：包含证明、"
        "区块头和验证节点签名。",
    ),
    "upload_file": ("Certificate file (JSON, at most 1 MiB)", "证明文件（JSON，不超过 1 MiB）"),
    "paste_json": ("…or paste the JSON", "……或粘贴 JSON"),
    "check": ("Check", "检查项"),
    "checks": ("Checks", "检查项"),
    "passed": ("passed", "通过"),
    "failed": ("failed", "未通过"),
    "skipped": ("not checked (an earlier check failed)", "未检查（前置检查未通过）"),
    "verified_facts": ("What the certificate proves", "证明所确认的内容"),
    "verdict": ("Verdict", "结论"),
    "verdict_valid": ("The certificate is valid.", "该注销证明有效。"),
    "verdict_invalid": ("The certificate is NOT valid.", "该注销证明无效。"),
    "verified_against": ("Checked against genesis", "核验所用创世哈希"),
    "submit_verify": ("Verify", "验证"),
})

#: Labels of ledger enum values, by group.
_VALUE_TEXTS: dict[str, dict[str, Texts]] = {
    "role": {
        "regulator": ("regulator", "主管部门"),
        "verifier": ("verifier", "审定与核查机构"),
        "owner": ("project owner", "项目业主"),
        "exchange": ("exchange", "碳交易机构"),
        "buyer": ("buyer / compliance enterprise", "买方 / 控排企业"),
    },
    "project_status": {
        "submitted": ("submitted", "已提交"),
        "validated": ("validated", "已审定"),
        "registered": ("registered", "已备案"),
    },
    "report_status": {
        "submitted": ("submitted", "已提交"),
        "verified": ("verified", "已核证"),
        "issued": ("issued", "已签发"),
        "withdrawn": ("withdrawn", "已撤回"),
    },
    "org_status": {
        "active": ("active", "正常"),
        "suspended": ("suspended", "已暂停"),
        "revoked": ("revoked", "已吊销"),
    },
    "attestation_kind": {
        "validation": ("validation", "审定"),
        "verification": ("verification", "核证"),
    },
    "sale": {
        "primary": ("primary (by the project owner)", "一级（项目业主出售）"),
        "resale": ("resale", "二级转售"),
        "mixed": ("primary and resale", "一级与二级"),
    },
    "unit_state": {
        "active": ("active", "有效"),
        "frozen": ("frozen", "已冻结"),
        "held": ("held", "持有"),
        "listed": ("listed", "挂牌中"),
        "retired": ("retired", "已注销"),
        "cancelled": ("cancelled", "已作废"),
        "buffer": ("buffer pool", "缓冲池"),
    },
    "accreditation_state": {
        "in_force": ("in force", "有效"),
        "expired": ("expired", "已过期"),
        "suspended": ("not in force: the organisation is not active", "未生效：机构已暂停"),
        "none": ("none (revoked or never granted)", "无（已撤销或未授予）"),
    },
    "purpose": {
        "compliance": ("compliance offset", "履约抵消"),
        "voluntary": ("voluntary", "自愿注销"),
    },
    "action": {
        "issue": ("issuance", "签发"),
        "list": ("listed on the exchange", "挂牌"),
        "delist": ("listing withdrawn", "撤牌"),
        "trade": ("exchange trade", "场内交易"),
        "transfer": ("off-exchange transfer", "场外转让"),
        "retire": ("retirement", "注销"),
        "loss": ("loss event (reversal)", "损失事件（逆转）"),
        "reversal": ("reversal (verified stock fell)", "逆转（核证蓄积下降）"),
        "invalidate": ("invalidated", "作废"),
        "freeze": ("frozen", "冻结"),
        "unfreeze": ("unfrozen", "解冻"),
        "plot": ("forest plot registered", "地块登记"),
        "project": ("project design submitted", "项目设计文件提交"),
        "validation": ("validation", "审定"),
        "registration": ("registration", "备案"),
        "report": ("monitoring report", "监测报告"),
        "verification": ("verification", "核证"),
        "batch": ("issuance", "签发"),
    },
    "subsidy_status": {
        "accrued": ("accrued, not paid", "已计提，未支付"),
        "paid": ("paid", "已支付"),
    },
    "cause": {
        "fire": ("fire", "火灾"),
        "pests": ("pests", "病虫害"),
        "illegal_felling": ("illegal felling", "盗伐"),
        "other": ("other", "其他"),
    },
    "risk": {
        "low": ("low", "低"),
        "medium": ("medium", "中"),
        "high": ("high", "高"),
    },
    "tenure": {
        "real_estate_cert": ("real estate certificate", "不动产证"),
        "forest_right_cert": ("forest right certificate", "林权证"),
        "land_contract": ("land contract", "土地承包合同"),
    },
    "species": {
        "chinese_fir": ("Chinese fir", "杉木"),
        "masson_pine": ("Masson pine", "马尾松"),
        "eucalyptus": ("Eucalyptus", "桉树"),
    },
}
# -- issue 15: dates, labelled tables, names, the trace and verification pages ----------
LABELS.update(_by_lang({
    "tz_cst": ("CST", "北京时间"),
    "at_height": ("block {height}", "区块 {height}"),
    "raw_json": ("raw JSON", "原始 JSON"),
    "return_value": ("Returned", "返回值"),
    "created_by": ("recorded by", "记录创建于交易"),
    "created_at": ("Recorded", "记录时间"),
    "changed_at": ("Last changed", "最近变更"),
    "step_issue": ("{qty} t issued to {to}", "{qty} 吨签发给 {to}"),
    "step_list": ("{qty} t listed for sale by {from_} on {to}",
                  "{from_} 在 {to} 挂牌出售 {qty} 吨"),
    "step_delist": ("listing withdrawn: units back with {to}", "撤牌：碳汇退回 {to}"),
    "step_trade": ("{qty} t sold by {from_} to {to}", "{from_} 向 {to} 出售 {qty} 吨"),
    "step_transfer": ("{qty} t transferred from {from_} to {to}",
                      "{qty} 吨由 {from_} 转让给 {to}"),
    "step_retire": ("{qty} t retired by {from_}", "{from_} 注销 {qty} 吨"),
    "step_cancel": ("{qty} t cancelled", "{qty} 吨作废"),
    "step_freeze": ("frozen by the regulator", "被主管部门冻结"),
    "step_unfreeze": ("unfrozen by the regulator", "被主管部门解冻"),
    "step_move": ("from {from_} to {to}", "由 {from_} 至 {to}"),
    "at_price": ("at {price} RMB/t", "单价 {price} 元/吨"),
    "serial_range_trace": ("trace this range", "溯源此序列号段"),
    "verdict_genuine": ("This certificate is genuine.", "该注销证明真实有效。"),
    # -- holding proofs (issue 12; docs/state-proofs.md "Holding proofs") ------------------
    "prove_holding": ("Prove this holding (JSON)", "下载持有证明（JSON）"),
    "verdict_holding": (
        "This holding proof is genuine: units {first}–{last} of project {project} at block {height}.",
        "该持有证明真实有效：项目 {project} 的第 {first}–{last} 号减排量单位，截至第 {height} 号区块。",
    ),
    "holding_not_valid": ("This holding proof is NOT valid: {reason}", "该持有证明无效：{reason}"),
    "holding_proves_lead": (
        "Who held each part of the range at that block, and its status, proven from the "
        "block's signed state root.",
        "该区块时各序列号段的持有方及状态，由该区块经签名的状态根证明。",
    ),
    "holding_status": ("Status", "状态"),
    "accr_valid_until": ("valid until", "有效期至"),
    "date_in_zone": ("{date} ({zone})", "{date}（{zone}）"),
    "verdict_genuine_facts": (
        "This certificate is genuine: {qty} t CO₂e retired by {who} on {date}.",
        "该注销证明真实有效：{who} 于 {date}注销了 {qty} 吨二氧化碳当量。",
    ),
    "verdict_not_valid": ("This certificate is NOT valid: {reason}",
                          "该注销证明无效：{reason}"),
    "verdict_reason_unknown": ("it failed a technical check (see the details below).",
                               "未通过技术核验（见下方详情）。"),
    "what_it_proves": ("What this proves", "这证明了什么"),
    "custody": ("Custody", "流转记录"),
    "custody_complete": (
        "Complete: every step these units went through between issuance and retirement,"
        " proven from the ledger's state.",
        "完整：这些碳汇自签发至注销经历的全部流转步骤，已由账本状态证明。",
    ),
    "custody_at_least": (
        "At least these steps: a version 1 certificate does not prove that the list is"
        " complete.",
        "至少包括以上步骤：第 1 版注销证明不能证明该列表完整。",
    ),
    "certificate_version": ("Certificate format", "证明格式版本"),
    "proves_lead": (
        "The network's validators signed the block holding this retirement; the units "
        "below are cancelled for good and can never be sold or retired again.",
        "网络的验证节点已对包含此注销的区块签名；下列碳汇已永久注销，不能再次出售或注销。",
    ),
    "technical_details": ("Technical checks ({n})", "技术核验明细（{n} 项）"),
    "technical_message": ("Technical message", "技术说明"),
}))

# -- issue 15: the parameter register, the market, policy indicators, the pipeline ----------
LABELS.update(_by_lang({
    "nav_params": ("Parameters", "政策参数"),
    "nav_market": ("Market", "交易市场"),
    "params": ("Policy parameter register", "政策参数登记簿"),
    "params_lead": (
        "Every policy parameter the regulator sets, its value in force and who set it "
        "from which block.",
        "主管部门设定的全部政策参数：现行取值，以及由谁自哪个区块起设定。",
    ),
    "param_name": ("Parameter", "参数"),
    "param_value": ("Value", "取值"),
    "param_in_force": ("Value in force", "现行取值"),
    "param_since": ("In force from", "生效自"),
    "param_set_by": ("Set by", "设定机构"),
    "param_reason": ("Reason", "理由"),
    "param_history": ("History of settings", "历次设定"),
    "param_genesis": ("genesis", "创世设定"),
    "param_entries": ("{n} entries", "{n} 项"),
    "market": ("Carbon market", "碳汇交易市场"),
    "market_lead": (
        "Exchange trades and open listings as committed on the ledger; prices in RMB per "
        "tonne CO₂e. Off-exchange transfers are in the transfers CSV.",
        "账本上已提交的交易所成交与挂牌；价格单位为元/吨二氧化碳当量。场外转让见转让 CSV。",
    ),
    "market_prices": ("Prices and volumes by month", "按月成交量与价格"),
    "market_chart_caption": (
        "Bars: tonnes traded on exchanges per month (left axis). Dots: average price "
        "weighted by quantity, RMB/t (right axis). The last 24 months.",
        "柱：每月交易所成交量（吨，左轴）；点：按数量加权的平均价格（元/吨，右轴）。近 24 个月。",
    ),
    "market_month": ("Month", "月份"),
    "market_trades": ("Trades", "成交笔数"),
    "market_volume": ("Volume (t CO₂e)", "成交量（吨）"),
    "market_avg_price": ("Average price (RMB/t)", "平均价格（元/吨）"),
    "market_low": ("Lowest (RMB/t)", "最低价（元/吨）"),
    "market_high": ("Highest (RMB/t)", "最高价（元/吨）"),
    "market_gross": ("Turnover (RMB)", "成交额（元）"),
    "market_trades_heading": ("Recent trades", "最新成交"),
    "market_date": ("Date", "日期"),
    "market_price": ("Price (RMB/t)", "单价（元/吨）"),
    "market_sale": ("Sale", "交易类型"),
    "market_listings": ("Open listings", "挂牌中"),
    "market_listed": ("Listed", "挂牌时间"),
    "market_remaining": ("Remaining / listed (t)", "剩余 / 挂牌（吨）"),
    "market_exchange": ("Exchange", "碳交易机构"),
    "market_seller": ("Seller", "卖方"),
    "market_buyer": ("Buyer", "买方"),
    "nav_indicators": ("Indicators", "政策评估"),
    "pipeline_lead": (
        "The project pipeline: each project's status and the date of each step -- "
        "submitted, validated (审定), registered (备案).",
        "项目进展：各项目的状态及各环节日期——提交、审定、备案。",
    ),
    "pipeline_all": ("all", "全部"),
    "pipeline_submitted": ("Submitted", "提交"),
    "pipeline_validated": ("Validated", "审定"),
    "pipeline_registered": ("Registered", "备案"),
    "indicators": ("Policy indicators", "政策评估指标"),
    "ind_lead": (
        "Per county and evaluation period ({years} calendar years by default): projects "
        "registered, credits issued, sold and retired, prices, farmers' income and subsidies.",
        "按县（区）和评估期（默认 {years} 个自然年）统计：备案项目、签发、交易与注销的碳汇量，"
        "价格，农户收益与补贴。",
    ),
    "ind_period": ("Evaluation period", "评估期"),
    "ind_show": ("Show", "查询"),
    "ind_all_counties": ("all counties", "全部县（区）"),
    "ind_by_county": ("By county", "按县（区）"),
    "ind_by_period": ("By evaluation period", "按评估期"),
    "ind_total": ("Total", "合计"),
    "ind_registered": ("Projects registered", "备案项目数"),
    "ind_issued": ("Issued (t)", "签发量（吨）"),
    "ind_traded": ("Sold (t)", "交易量（吨）"),
    "ind_traded_primary": ("Sold by owners (t)", "一级交易量（吨）"),
    "ind_traded_resale": ("Resold (t)", "二级交易量（吨）"),
    "ind_retired": ("Retired (t)", "注销量（吨）"),
    "ind_avg_price": ("Average price (RMB/t)", "平均价格（元/吨）"),
    "ind_farmers": ("Farmers' income (RMB)", "农户收益（元）"),
    "ind_subsidy_owed": ("Subsidies owed (RMB)", "应付补贴（元）"),
    "ind_subsidy_paid": ("Subsidies paid (RMB)", "已付补贴（元）"),
    "ind_definitions": (
        "A project counts in its county (its first plot's county code). Registered: projects "
        "registered (备案) in the period. Sold: exchange trades and priced off-exchange "
        "transfers; by owners = primary sales by the project's owner, resold = later holders' "
        "sales. Average price: turnover / tonnes sold, weighted by quantity, rounded half up "
        "to the fen. Farmers' income: the farmers' share of primary sales under the "
        "project's benefit split. Subsidies: owed by accrual date, paid by payment date.",
        "项目按其所在县（区）统计（首个地块的县级行政区划代码）。备案：评估期内备案的项目。"
        "交易：交易所成交及有价场外转让；一级 = 项目业主出售，二级 = 后续持有人转售。"
        "平均价格：成交额 ÷ 成交量（按数量加权，四舍五入到分）。农户收益：按项目收益分配比例"
        "农户在一级交易中所得。补贴：应付按计提日期、已付按支付日期统计。",
    ),
}))

#: Labels of the fields of transaction arguments, events and records (labelled tables);
#: a field not here falls back to :data:`LABELS`, then to its own name.
FIELDS: dict[str, dict[str, str]] = _by_lang({
    "type": ("Event", "事件类型"),
    # policy parameters (chaincode/params.py)
    "offset_cap": ("Offset cap", "抵消比例上限"),
    "benefit_split_default": ("Default benefit split", "默认收益分配比例"),
    "subsidy_rate": ("Subsidy rate (RMB/t)", "补贴标准（元/吨）"),
    "buffer_rates": ("Buffer rates", "缓冲池比例"),
    "species_table": ("Methodology species table", "方法学树种参数表"),
    "methodologies": ("Accepted methodologies", "认可的方法学"),
    "area_tolerance": ("Area tolerance", "面积容差"),
    "min_parcel_m2": ("Smallest parcel (m²)", "最小地块面积（平方米）"),
    "min_sample_plots": ("Fewest sample plots per stratum", "每层最少样地数"),
    "sampling_precision_target": ("Sampling precision target", "抽样精度目标"),
    "sampling_t90": ("Student's t table (90 %)", "t 分布表（90 %）"),
    "non_forest_years": ("Years non-forest before planting", "造林前无林年限"),
    "crediting_period_min_years": ("Shortest crediting period (years)", "最短计入期（年）"),
    "crediting_period_max_years": ("Longest crediting period (years)", "最长计入期（年）"),
    "max_consecutive_verifications": ("Most consecutive verifications by one verifier",
                                      "同一核查机构最多连续核查次数"),
    "validator_change_delay": ("Validator change delay (blocks)", "验证节点变更延迟（区块）"),
    "verifier_may_validate_and_verify": ("One body may validate and verify",
                                         "同一机构可兼做审定与核查"),
    "code": ("Result code", "结果代码"),
    "project_id": ("Project", "项目"),
    "project_ids": ("Projects", "项目"),
    "batch_id": ("Issuance batch", "签发批次"),
    "report_id": ("Monitoring report", "监测报告"),
    "attestation_id": ("Attestation", "审定/核证意见"),
    "plot_id": ("Plot", "地块"),
    "plots": ("Plots", "地块"),
    "org_id": ("Organisation", "机构"),
    "from_org": ("From", "转出方"),
    "to_org": ("To", "转入方"),
    "buyer_org": ("Buyer", "买方"),
    "buyer": ("Buyer", "买方"),
    "seller": ("Seller", "卖方"),
    "sender": ("Sender", "转出方"),
    "receiver": ("Receiver", "转入方"),
    "exchange_org": ("Exchange", "碳交易机构"),
    "exchange": ("Exchange", "碳交易机构"),
    "enterprise": ("Enterprise", "控排企业"),
    "enterprise_org": ("Enterprise", "控排企业"),
    "owner_org": ("Project owner", "项目业主"),
    "verifier_org": ("Verifier", "审定与核查机构"),
    "listing_id": ("Listing", "挂牌"),
    "trade_id": ("Trade", "成交"),
    "transfer_id": ("Transfer", "转让"),
    "retirement_id": ("Retirement", "注销"),
    "price": ("Price (RMB/t)", "单价（元/吨）"),
    "gross": ("Gross (RMB)", "成交金额（元）"),
    "proceeds": ("Proceeds", "收益分配"),
    "owner": ("Owner's share (RMB)", "业主分成（元）"),
    "farmers": ("Farmers' share (RMB)", "农户分成（元）"),
    "government": ("Government share (RMB)", "政府分成（元）"),
    "sale": ("Sale", "销售类型"),
    "bef": ("Biomass expansion factor (BEF)", "生物量扩展因子（BEF）"),
    "cf": ("Carbon fraction (CF)", "含碳率（CF）"),
    "r": ("Root-to-shoot ratio (R)", "根茎比（R）"),
    "wd": ("Wood density (WD, t/m³)", "基本木材密度（WD，吨/立方米）"),
    "er": ("Emission reductions (t CO₂e)", "减排量（吨二氧化碳当量）"),
    "growth": ("Growth (t CO₂e)", "增长量（吨二氧化碳当量）"),
    "biomass_start": ("Biomass at start (t)", "期初生物量（吨）"),
    "biomass_end": ("Biomass at end (t)", "期末生物量（吨）"),
    "co2e": ("CO₂e (t)", "二氧化碳当量（吨）"),
    "start": ("Stock at start (µt CO₂e)", "期初储量（微吨二氧化碳当量）"),
    "end": ("Stock at end (µt CO₂e)", "期末储量（微吨二氧化碳当量）"),
    "high_water": ("High-water mark before (µt CO₂e)", "此前历史最高储量（微吨二氧化碳当量）"),
    "high_water_after": ("High-water mark after (µt CO₂e)", "此后历史最高储量（微吨二氧化碳当量）"),
    "to_owner": ("To the owner (t)", "签发给业主（吨）"),
    "to_buffer": ("To the buffer pool (t)", "划入缓冲池（吨）"),
    "uncertainty_deduction_amount": ("Uncertainty deduction (t)", "不确定性扣减量（吨）"),
    "buffer_rate": ("Buffer rate", "缓冲比例"),
    "fall": ("Fall", "下降量"),
    "settlement_ref": ("Settlement reference", "结算编号"),
    "settlement_date": ("Settlement date", "结算日期"),
    "trade_date": ("Trade date", "成交日期"),
    "first": ("First unit", "起始单位号"),
    "last": ("Last unit", "结束单位号"),
    "ranges": ("Serial ranges", "序列号段"),
    "serial": ("Serial number", "序列号"),
    "vintage": ("Vintage", "年份"),
    "obligation_tonnes": ("Obligation (t)", "履约义务（吨）"),
    "claimed_issuable": ("Claimed issuable (t)", "申报可签发量（吨）"),
    "verified_quantity": ("Verified quantity (t)", "核证量（吨）"),
    "volume_start": ("Volume at start (m³)", "期初蓄积（立方米）"),
    "volume_end": ("Volume at end (m³)", "期末蓄积（立方米）"),
    "measurements": ("Measurements", "测量数据"),
    "parameters": ("Parameters", "参数"),
    "baseline": ("Baseline", "基线"),
    "leakage": ("Leakage", "泄漏"),
    "project_emissions": ("Project emissions", "项目排放"),
    "uncertainty_deduction": ("Uncertainty deduction", "不确定性扣减"),
    "carbon_start": ("Carbon stock at start", "期初碳储量"),
    "carbon_end": ("Carbon stock at end", "期末碳储量"),
    "issuable": ("Issuable (t)", "可签发量（吨）"),
    "period_start": ("Period start", "监测期开始"),
    "period_end": ("Period end", "监测期结束"),
    "report_sha256": ("Report SHA-256", "报告 SHA-256"),
    "evidence_sha256": ("Evidence SHA-256", "证据 SHA-256"),
    "description": ("Description", "说明"),
    "cause": ("Cause", "原因"),
    "reason": ("Reason", "理由"),
    "beneficiary": ("Beneficiary", "受益方"),
    "purpose": ("Purpose", "用途"),
    "positive": ("Positive opinion", "结论为肯定"),
    "accreditation": ("Accreditation", "资质编号"),
    "roles": ("Roles", "角色"),
    "admin": ("Administrator", "管理员"),
    "pub_key": ("Public key", "公钥"),
    "tx_id": ("Transaction", "交易"),
    "height": ("Block height", "区块高度"),
    # block header fields (the block page's header table)
    "txs_root": ("Transactions root", "交易根哈希"),
    "results_root": ("Results root", "执行结果根哈希"),
    "state_root": ("State root", "状态根哈希"),
    "validators_hash": ("Validator set hash", "验证节点集合哈希"),
    "next_validators_hash": ("Next validator set hash", "下一验证节点集合哈希"),
    "history_root": ("History root", "历史根哈希"),
    # fields of arguments and returned values that had no label (issue 15 audit)
    "area_m2": ("Computed area (m²)", "计算面积（平方米）"),
    "buffer_serial": ("Buffer pool's serial range", "缓冲池序列号段"),
    "owner_serial": ("Owner's serial range", "业主序列号段"),
    "cap": ("Offset cap (t)", "抵消上限（吨）"),
    "compensation_quantity": ("Compensation repaid to the buffer pool (t)", "向缓冲池补偿量（吨）"),
    "coordinates": ("Coordinates (1e-7 degrees)", "坐标（1e-7 度）"),
    "crediting_period_years": ("Crediting period (years)", "计入期（年）"),
    "declared_area_ha": ("Declared area (ha)", "申报面积（公顷）"),
    "doc_number": ("Document number", "证书编号"),
    "doc_type": ("Document type", "证书类型"),
    "loss_id": ("Loss event", "损失事件"),
    "polygon": ("Boundary polygon", "边界多边形"),
    "retired_for_period": ("Retired for the period so far (t)", "本履约期累计注销量（吨）"),
    "scan_sha256": ("Scan (SHA-256)", "扫描件（SHA-256）"),
    "sha256": ("Document (SHA-256)", "文件（SHA-256）"),
    "validation_attestation": ("Validation attestation", "审定意见"),
    "action": ("Action", "操作"),
    "valid_until": ("Valid until (block time, ms)", "有效期至（区块时间，毫秒）"),
    "years": ("Years", "年数"),
    # the species table's plausibility ceilings
    "max_volume_per_ha": ("Highest plausible stand volume (m³/ha)", "蓄积量合理上限（立方米/公顷）"),
    "max_growth_per_ha_year": ("Highest plausible growth (m³/ha a year)",
                               "年生长量合理上限（立方米/公顷·年）"),
    # keys of the buffer rates by risk rating
    "low": ("Low risk", "低风险"),
    "medium": ("Medium risk", "中风险"),
    "high": ("High risk", "高风险"),
})

_VALUE_TEXTS.update({
    # the checks of ledger.certificate.CHECK_NAMES, by name
    "check": {
        "format": ("file format", "文件格式"),
        "genesis": ("network identity (genesis)", "网络身份（创世文件）"),
        "chain_id": ("chain id", "链标识"),
        "validator_set_changes": ("validator set changes", "验证节点集合变更"),
        "headers": ("block headers", "区块头"),
        "commits": ("validators' signatures", "验证节点签名"),
        "history": ("block history proof", "区块历史证明"),
        "inclusion": ("inclusion in the block", "区块包含证明"),
        "custody_proofs": ("proof of the units' complete custody history",
                           "减排量完整流转记录证明"),
        "transactions": ("transaction signatures", "交易签名"),
        "results": ("transaction results", "交易执行结果"),
        "links": ("provenance links", "来源关联"),
        # a holding proof's checks (chaincode.holding_proof.CHECK_NAMES)
        "claim": ("the claimed range", "所声明的序列号段"),
        "anchor": ("network identity (genesis)", "网络身份（创世文件）"),
        "header": ("signed block header", "经签名的区块头"),
        "proofs": ("state proofs", "状态证明"),
        "coverage": ("coverage of the range", "序列号段的完整覆盖"),
    },
    # what a failed check means, in plain words, by check name (the verdict's code)
    "check_failure": {
        "format": ("the file is not a readable certificate.", "文件不是可读取的注销证明。"),
        "genesis": ("it was issued for a different network than this one.",
                    "该证明来自另一个网络，而非本网络。"),
        "chain_id": ("it names a different chain than this network.",
                     "证明中的链标识与本网络不符。"),
        "validator_set_changes": (
            "the changes of the validator set it carries do not follow from this network's "
            "validators.",
            "证明中的验证节点变更与本网络的验证节点不符。",
        ),
        "headers": ("its block headers do not chain together.", "证明中的区块头无法前后衔接。"),
        "commits": ("the network's validators did not sign its blocks.",
                    "本网络的验证节点未对其区块签名。"),
        "history": ("its blocks are not part of this network's history.",
                    "其区块不属于本网络的历史记录。"),
        "inclusion": (
            "a transaction or result in it is not the one the network recorded: "
            "it has been changed.",
            "证明中的交易或结果与网络记录不符：内容已被篡改。",
        ),
        "custody_proofs": (
            "the units' history it carries is not the one recorded in the ledger's state.",
            "证明中的减排量流转记录与账本状态不符。",
        ),
        "transactions": ("a transaction in it is not properly signed.",
                         "证明中的交易签名无效。"),
        "results": ("a transaction in it did not succeed on the ledger.",
                    "证明中的交易在账本上未执行成功。"),
        "links": (
            "its records do not link up from the forest plots to the retirement.",
            "证明中的记录无法从林地地块一直关联到注销。",
        ),
        "claim": ("the file is not a readable holding proof.", "文件不是可读取的持有证明。"),
        "anchor": ("it was made for a different network than this one.",
                   "该证明来自另一个网络，而非本网络。"),
        "header": ("the network's validators did not sign its block.",
                   "本网络的验证节点未对其区块签名。"),
        "proofs": ("a unit record in it is not the one the network recorded: it has been "
                   "changed.", "证明中的单位记录与网络记录不符：内容已被篡改。"),
        "coverage": ("its records do not cover the whole range, one after the other.",
                     "证明中的记录未能连续、完整地覆盖该序列号段。"),
        "invalid_certificate": ("the file is not a readable certificate.",
                                "文件不是可读取的注销证明。"),
    },
})

VALUES: dict[str, dict[str, dict[str, str]]] = {
    group: _by_lang(texts) for group, texts in _VALUE_TEXTS.items()
}

# -- the free calculator (/explorer/calculator, issue 14; docs/explorer.md "Calculator") ------
LABELS.update(_by_lang({
    "nav_calculator": ("Calculator", "计量工具"),
    "calc_title": ("Free carbon calculator", "免费碳汇计量工具"),
    "calc_lead": (
        "Enter or upload your plots' measurements and read what the ledger would compute for a"
        " monitoring report: every figure, step by step. The same code as the carbon contract"
        " runs, with the regulator's parameters in force at block {height}. Nothing is signed"
        " or written to the ledger.",
        "填写或上传地块的测量数据，即可看到账本在监测报告中将算出的结果，并逐步列出每个数字。"
        "计算使用与碳汇合约完全相同的代码，以及第 {height} 号区块时有效的主管部门参数。"
        "不需要签名，也不会写入账本。",
    ),
    "calc_period": ("Monitoring period", "监测期"),
    "calc_period_start": ("Period start (YYYY-MM-DD)", "监测期开始（年-月-日）"),
    "calc_period_end": ("Period end (YYYY-MM-DD)", "监测期结束（年-月-日）"),
    "calc_baseline_rate": ("Baseline removals, t CO₂e a year (from the PDD)",
                           "基线碳汇量（吨二氧化碳当量/年，取自项目设计文件）"),
    "calc_baseline_from": ("Baseline from (YYYY-MM-DD; the day after the project's last "
                           "verified period; empty: the period's start)",
                           "基线起算日（年-月-日；项目上一监测期结束的次日；留空则为监测期开始日）"),
    "calc_leakage": ("Leakage, t CO₂e", "泄漏（吨二氧化碳当量）"),
    "calc_project_emissions": ("Project emissions, t CO₂e", "项目排放（吨二氧化碳当量）"),
    "calc_uncertainty": ("Uncertainty deduction (a share, e.g. 0.05; empty: the regulator's"
                         " minimum)", "不确定性扣减比例（如 0.05；留空则取主管部门最低值）"),
    "calc_risk": ("Non-permanence risk rating", "非持久性风险等级"),
    "calc_risk_default": ("(not known: the highest buffer rate)", "（未知：取最高缓冲比例）"),
    "calc_plots": ("Plots measured by census", "全面调查（每木检尺）的地块"),
    "calc_plot_id": ("Plot id", "地块编号"),
    **{f"calc_{k}": v for k, v in CALC_TEXTS.items()},  # chaincode/calc_texts.py
    "calc_volume_start": ("Stand volume at the start, m³ (empty: 0, a first period)",
                          "期初蓄积量（立方米；留空为 0，即首个监测期）"),
    "calc_high_water": ("Highest verified stock so far, t CO₂e (empty: the start stock)",
                        "此前最高核证碳储量（吨二氧化碳当量；留空为期初碳储量）"),
    "calc_volume_end": ("Stand volume at the end, m³", "期末蓄积量（立方米）"),
    "calc_upload": ("Or upload measurements (CSV or JSON; sample plots by stratum go here)",
                    "或上传测量数据（CSV 或 JSON；分层样地数据请用上传）"),
    "calc_upload_help": (
        "CSV: a header row with plot_id, species, area_ha, then volume_start, volume_end,"
        " high_water for a census plot, or stratum_id, stratum_species, stratum_area_ha,"
        " sample_plot_area_ha, sample — one row per sample plot. JSON: a request as the"
        " node's POST /v1/calculate takes it.",
        "CSV：首行为列名 plot_id、species、area_ha，全面调查地块再填 volume_start、volume_end、"
        "high_water；分层抽样地块填 stratum_id、stratum_species、stratum_area_ha、"
        "sample_plot_area_ha、sample，每个样地一行。JSON：与节点 POST /v1/calculate 相同的请求。",
    ),
    "calc_paste": ("Or paste CSV / JSON", "或粘贴 CSV / JSON"),
    "calc_submit": ("Calculate", "计算"),
    "calc_refused": ("The calculation was refused", "无法计算"),
    "calc_result": ("Result", "计算结果"),
    "calc_params": ("Parameters used", "所用参数"),
    "calc_params_note": ("Read at block {height}; changed for this calculation: {names}.",
                         "读取自第 {height} 号区块；本次计算改用的参数：{names}。"),
    "calc_none": ("none", "无"),
}))
VALUES["risk_rating"] = _by_lang({
    "low": ("low", "低"), "medium": ("medium", "中"), "high": ("high", "高"),
})


# -- issue 15: account statements, the reader's time zone, map legend and scale ------------
LABELS.update(_by_lang({
    "time_zone": ("Time zone", "时区"),
    "set_time_zone": ("Show times in this zone", "按此时区显示时间"),
    "statement": ("Statement", "账户对账单"),
    "statement_help": (
        "Balance: the units this account holds or has listed (not retired, not cancelled). "
        "Periods are calendar periods of China Standard Time (UTC+8), the ledger's dates.",
        "余额：本账户持有或挂牌中的减排量（不含已注销、已作废）。期间按北京时间（UTC+8）的自然月、季、年划分，"
        "与账本日期一致。"),
    "statement_kind": ("Period", "对账期间"),
    "statement_from": ("From (date)", "起始日期"),
    "statement_to": ("To (date)", "截止日期"),
    "statement_show": ("Show statement", "生成对账单"),
    "statement_period_label": ("Period {label}: {first} to {last}",
                               "期间 {label}：{first} 至 {last}"),
    "statement_open": ("The period has not ended: the closing balance is at block {height}.",
                       "本期间尚未结束：期末余额截至区块 {height}。"),
    "opening_balance": ("Opening balance", "期初余额"),
    "closing_balance": ("Closing balance", "期末余额"),
    "movement": ("Movement", "变动"),
    "counterparty": ("Counterparty", "交易对方"),
    "change": ("Change (t)", "变动量（吨）"),
    "balance_after": ("Balance (t)", "余额（吨）"),
    "serials": ("Serial numbers", "序列号"),
    "total_in": ("Total in", "转入合计"),
    "total_out": ("Total out", "转出合计"),
    "previous_period": ("Previous period", "上一期间"),
    "next_period": ("Next period", "下一期间"),
    "statement_csv": ("Statement", "对账单"),
    "note_only": ("note", "备注"),
    "statement_more": ("More movements", "更多变动"),
    "map_legend": ("Legend", "图例"),
    "map_plot": ("Plot boundary (label: plot id)", "地块边界（标注：地块编号）"),
    "map_scale": ("Scale bar", "比例尺"),
}))
VALUES["statement_period"] = _by_lang({
    "month": ("month", "月"), "quarter": ("quarter", "季度"), "year": ("year", "年"),
    "custom": ("chosen dates", "自选日期"),
})
VALUES["movement"] = _by_lang({
    "issued": ("issuance received", "签发入账"),
    "transfer_in": ("transfer in", "转入"),
    "transfer_out": ("transfer out", "转出"),
    "bought": ("bought", "买入"),
    "sold": ("sold", "卖出"),
    "listed": ("listed for sale", "挂牌"),
    "delisted": ("listing withdrawn", "撤牌"),
    "retired": ("retired", "注销"),
    "cancelled": ("cancelled", "作废"),
    "frozen": ("frozen (note)", "冻结（备注）"),
    "unfrozen": ("unfrozen (note)", "解冻（备注）"),
})


def choose_lang(query: str | None, cookie: str | None, accept_language: str | None) -> str:
    """The page language: ``?lang=`` first, then the cookie, then the browser's
    Accept-Language (Chinese if it prefers any ``zh``), else English."""
    for candidate in (query, cookie):
        if candidate in LANGS:
            return str(candidate)
    if accept_language:
        first = accept_language.split(",")[0].strip().lower()
        if first.startswith("zh"):
            return "zh"
    return DEFAULT_LANG


class Translator:
    """Label lookup for one language; templates call it as ``t("key")`` and
    ``v("group", value)``."""

    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in LANGS else DEFAULT_LANG

    def __call__(self, key: str, **fmt: object) -> str:
        entry = LABELS.get(key)
        if entry is None:
            return key
        text = entry[self.lang]
        return text.format(**fmt) if fmt else text

    def html(self, key: str, **fmt: object) -> Markup:
        """Label ``key`` as HTML with ``fmt`` filled in: the label is trusted text, each
        value is escaped unless it is already :class:`Markup` (a rendered link)."""
        entry = LABELS.get(key)
        return Markup.escape(key) if entry is None else Markup(entry[self.lang]).format(**fmt)

    def known(self, group: str, value: object) -> bool:
        """Whether ``value`` has a label in :data:`VALUES` group ``group``."""
        return isinstance(value, str) and value in VALUES.get(group, {})

    def field(self, key: object) -> str:
        """The label of a record or argument field: :data:`FIELDS`, else :data:`LABELS`,
        else the key itself."""
        if not isinstance(key, str):
            return str(key)
        entry = FIELDS.get(key) or LABELS.get(key) or VALUES["species"].get(key)
        return key if entry is None else entry[self.lang]

    def value(self, group: str, value: object) -> str:
        labels: Mapping[str, Mapping[str, str]] = VALUES.get(group, {})
        if isinstance(value, str) and value in labels:
            return labels[value][self.lang]
        return "" if value is None else str(value)
