"""Every label of the explorer in English and Chinese, in one dictionary.

Chinese labels use the domain terms of DOMAIN.md: 备案 (registration), 审定 (validation),
核证 (verification), 签发 (issuance), 注销 (retirement), 履约抵消 (compliance offset),
缓冲池 (buffer pool), 项目业主 (owner), 审定与核查机构 (verifier), 碳交易机构 (exchange),
控排企业 (compliance enterprise), 监测报告 / 监测期 (monitoring report / period).

:data:`LABELS` maps a label key to ``{"en": ..., "zh": ...}``; :data:`VALUES` maps a
group of ledger enum values (project status, role, unit state, ...) to labels of each
value. Unknown values are shown as they are (escaped by the templates).
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["DEFAULT_LANG", "LABELS", "LANGS", "VALUES", "Translator", "choose_lang"]

LANGS = ("en", "zh")
DEFAULT_LANG = "en"
COOKIE = "fcl_lang"

LABELS: dict[str, dict[str, str]] = {
    # -- site ---------------------------------------------------------------------------
    "site_title": {"en": "Forest Carbon Ledger explorer", "zh": "林业碳汇账本浏览器"},
    "nav_dashboard": {"en": "Dashboard", "zh": "概览"},
    "nav_blocks": {"en": "Blocks", "zh": "区块"},
    "nav_orgs": {"en": "Organisations", "zh": "机构"},
    "nav_projects": {"en": "Projects", "zh": "项目"},
    "nav_batches": {"en": "Issuance", "zh": "签发"},
    "nav_retirements": {"en": "Retirements", "zh": "注销"},
    "nav_buffer": {"en": "Buffer pool", "zh": "缓冲池"},
    "nav_verify": {"en": "Verify a certificate", "zh": "验证注销证明"},
    "search": {"en": "Search", "zh": "搜索"},
    "search_placeholder": {
        "en": "tx id, block height, serial number, project, account",
        "zh": "交易哈希、区块高度、序列号、项目编号、账户",
    },
    "search_hint": {
        "en": "Search by transaction id, block height or hash, serial number (CCER-… or "
        "project:unit), project, organisation/account, batch, report, attestation or plot id.",
        "zh": "可按交易哈希、区块高度或哈希、序列号（CCER-… 或 项目:单位号）、项目编号、"
        "机构/账户、签发批次、监测报告、审定/核证意见或地块编号搜索。",
    },
    "language": {"en": "Language", "zh": "语言"},
    "switch_lang": {"en": "中文", "zh": "English"},
    "read_only_note": {
        "en": "Read-only view of committed blocks. Nothing here holds keys or writes the ledger.",
        "zh": "仅显示已提交区块的数据；本页面不持有密钥，也不写入账本。",
    },
    "json": {"en": "JSON", "zh": "JSON"},
    "csv": {"en": "CSV", "zh": "CSV"},
    "next_page": {"en": "Next page", "zh": "下一页"},
    "first_page": {"en": "First page", "zh": "第一页"},
    "older": {"en": "Older", "zh": "更早"},
    "newer": {"en": "Newer", "zh": "更新"},
    "none": {"en": "None", "zh": "无"},
    "yes": {"en": "yes", "zh": "是"},
    "no": {"en": "no", "zh": "否"},
    "details": {"en": "Details", "zh": "详情"},
    "more": {"en": "More", "zh": "更多"},
    "error": {"en": "Error", "zh": "错误"},
    "error_code": {"en": "Error code", "zh": "错误代码"},
    "back_home": {"en": "Back to the dashboard", "zh": "返回概览"},
    "print": {"en": "Print", "zh": "打印"},
    # -- dashboard ------------------------------------------------------------------------
    "dashboard": {"en": "Dashboard", "zh": "概览"},
    "chain_id": {"en": "Chain id", "zh": "链标识"},
    "genesis_hash": {"en": "Genesis hash", "zh": "创世哈希"},
    "height": {"en": "Height", "zh": "高度"},
    "round": {"en": "Round", "zh": "轮次"},
    "peers": {"en": "Peers", "zh": "对等节点"},
    "tx_rate": {"en": "Transactions per second", "zh": "每秒交易数"},
    "tx_rate_note": {
        "en": "over the last {n} blocks",
        "zh": "按最近 {n} 个区块计算",
    },
    "node": {"en": "Node", "zh": "节点"},
    "mempool": {"en": "Pending transactions", "zh": "待处理交易"},
    "halted": {"en": "Block production stopped", "zh": "出块已停止"},
    "validators": {"en": "Validators", "zh": "验证节点"},
    "validator": {"en": "Validator", "zh": "验证节点"},
    "power": {"en": "Voting power", "zh": "投票权重"},
    "public_key": {"en": "Public key", "zh": "公钥"},
    "signed_latest": {"en": "Signed the latest block", "zh": "已签署最新区块"},
    "validator_status": {"en": "Status", "zh": "状态"},
    "totals": {"en": "Credit totals (t CO₂e)", "zh": "碳信用总量（吨二氧化碳当量）"},
    "issued": {"en": "Issued", "zh": "已签发"},
    "retired": {"en": "Retired", "zh": "已注销"},
    "in_buffer": {"en": "In buffer pool", "zh": "缓冲池持有"},
    "held": {"en": "Held", "zh": "持有"},
    "listed": {"en": "Listed", "zh": "挂牌中"},
    "cancelled": {"en": "Cancelled", "zh": "已作废"},
    "frozen": {"en": "Frozen", "zh": "已冻结"},
    "buffer": {"en": "Buffer pool", "zh": "缓冲池"},
    "projects_count": {"en": "Projects", "zh": "项目数"},
    "batches_count": {"en": "Issuance batches", "zh": "签发批次数"},
    "recent_blocks": {"en": "Recent blocks", "zh": "最新区块"},
    "chart_title": {
        "en": "Issued and retired by vintage (t CO₂e)",
        "zh": "按年份（监测期）统计的签发量与注销量（吨二氧化碳当量）",
    },
    "chart_empty": {"en": "Nothing issued yet.", "zh": "尚无签发。"},
    # -- blocks and transactions ----------------------------------------------------------
    "blocks": {"en": "Blocks", "zh": "区块"},
    "block": {"en": "Block", "zh": "区块"},
    "block_hash": {"en": "Block hash", "zh": "区块哈希"},
    "time": {"en": "Time (UTC+8)", "zh": "时间（北京时间）"},
    "txs": {"en": "Transactions", "zh": "交易"},
    "tx_count": {"en": "Transactions", "zh": "交易数"},
    "proposer": {"en": "Proposer", "zh": "提议节点"},
    "prev_hash": {"en": "Previous block", "zh": "上一区块"},
    "next_block": {"en": "Next block", "zh": "下一区块"},
    "header": {"en": "Header", "zh": "区块头"},
    "commit": {"en": "Commit certificate", "zh": "提交证明"},
    "commit_round": {"en": "Round", "zh": "轮次"},
    "signatures": {"en": "Signatures", "zh": "签名"},
    "signature": {"en": "Signature", "zh": "签名"},
    "tx": {"en": "Transaction", "zh": "交易"},
    "tx_id": {"en": "Transaction id", "zh": "交易哈希"},
    "index": {"en": "Index in block", "zh": "区块内序号"},
    "contract": {"en": "Contract", "zh": "合约"},
    "method": {"en": "Method", "zh": "方法"},
    "args": {"en": "Arguments", "zh": "参数"},
    "signers": {"en": "Signers", "zh": "签名人"},
    "nonce": {"en": "Nonce", "zh": "随机数"},
    "result": {"en": "Result", "zh": "执行结果"},
    "result_ok": {"en": "succeeded", "zh": "成功"},
    "result_failed": {"en": "failed", "zh": "失败"},
    "message": {"en": "Message", "zh": "说明"},
    "events": {"en": "Events", "zh": "事件"},
    "related": {"en": "Related records", "zh": "相关记录"},
    "not_a_member": {"en": "not an enrolled key", "zh": "非登记密钥"},
    # -- organisations and accounts -------------------------------------------------------
    "orgs": {"en": "Organisations and roles", "zh": "机构与角色"},
    "org": {"en": "Organisation", "zh": "机构"},
    "org_id": {"en": "Organisation id", "zh": "机构编号"},
    "name": {"en": "Name", "zh": "名称"},
    "roles": {"en": "Roles", "zh": "角色"},
    "status": {"en": "Status", "zh": "状态"},
    "accreditation": {"en": "Accreditation", "zh": "资质编号"},
    "accreditation_valid_until": {"en": "Accreditation valid until", "zh": "资质有效期至"},
    "enrolled_at": {"en": "Enrolled at height", "zh": "登记高度"},
    "keys": {"en": "Member keys", "zh": "成员密钥"},
    "admin": {"en": "Admin", "zh": "管理员"},
    "account": {"en": "Account", "zh": "账户"},
    "holdings": {"en": "Holdings (t CO₂e)", "zh": "持有情况（吨二氧化碳当量）"},
    "ranges": {"en": "Serial ranges", "zh": "序列号区间"},
    "per_project": {"en": "By project", "zh": "按项目"},
    "per_batch": {"en": "By batch", "zh": "按签发批次"},
    "buffer_account_note": {
        "en": "The buffer pool holds the non-permanence reserve of every issuance; loss "
        "events cancel units from it.",
        "zh": "缓冲池持有每次签发中按非持久性风险留存的部分；损失事件从中作废相应数量。",
    },
    "losses": {"en": "Loss events", "zh": "损失事件"},
    "cause": {"en": "Cause", "zh": "原因"},
    # -- projects -------------------------------------------------------------------------
    "projects": {"en": "Projects", "zh": "项目"},
    "project": {"en": "Project", "zh": "项目"},
    "project_id": {"en": "Project id", "zh": "项目编号"},
    "owner_org": {"en": "Owner", "zh": "项目业主"},
    "methodology": {"en": "Methodology", "zh": "方法学"},
    "start_date": {"en": "Start date", "zh": "开始日期"},
    "crediting_period": {"en": "Crediting period", "zh": "计入期"},
    "years": {"en": "years", "zh": "年"},
    "baseline": {"en": "Baseline", "zh": "基线"},
    "benefit_split": {"en": "Benefit sharing", "zh": "收益分配"},
    "split_owner": {"en": "owner", "zh": "业主"},
    "split_farmers": {"en": "farmers", "zh": "农户"},
    "split_government": {"en": "government", "zh": "地方政府"},
    "risk_rating": {"en": "Non-permanence risk", "zh": "非持久性风险等级"},
    "pdd_sha256": {"en": "PDD SHA-256", "zh": "项目设计文件 SHA-256"},
    "comment_window": {"en": "Public comment window", "zh": "公示期"},
    "registration": {"en": "Registration", "zh": "备案"},
    "registered_at": {"en": "Registered in", "zh": "备案交易"},
    "county_code": {"en": "County code", "zh": "县级行政区划代码"},
    "plots": {"en": "Forest plots", "zh": "林地地块"},
    "plot": {"en": "Plot", "zh": "地块"},
    "plot_map": {"en": "Plot map", "zh": "地块分布图"},
    "plot_map_note": {
        "en": "Equirectangular projection, north up; coordinates are WGS84/CGCS2000.",
        "zh": "等距圆柱投影，上北下南；坐标系为 WGS84/CGCS2000。",
    },
    "area": {"en": "Area (m², geodesic)", "zh": "面积（平方米，椭球面）"},
    "declared_area": {"en": "Declared area (ha)", "zh": "申报面积（公顷）"},
    "species": {"en": "Species", "zh": "树种"},
    "planting_date": {"en": "Planting date", "zh": "造林日期"},
    "tenure": {"en": "Land tenure document", "zh": "权属证明"},
    "non_forest_evidence": {"en": "Non-forest evidence", "zh": "无林地证明"},
    "bbox": {"en": "Bounding box (1e-7°)", "zh": "外接矩形（1e-7 度）"},
    "vertices": {"en": "Vertices", "zh": "顶点数"},
    "unit_totals": {"en": "Units (t CO₂e)", "zh": "碳信用（吨二氧化碳当量）"},
    # -- monitoring, attestation, issuance ----------------------------------------------
    "reports": {"en": "Monitoring periods", "zh": "监测期"},
    "report": {"en": "Monitoring report", "zh": "监测报告"},
    "period": {"en": "Period", "zh": "期间"},
    "period_start": {"en": "Period start", "zh": "监测期开始"},
    "period_end": {"en": "Period end", "zh": "监测期结束"},
    "vintage": {"en": "Vintage", "zh": "年份"},
    "claimed": {"en": "Claimed (t CO₂e)", "zh": "申报量（吨）"},
    "computed": {"en": "Computed by the ledger (t CO₂e)", "zh": "账本计算量（吨）"},
    "measurements": {"en": "Measurements", "zh": "监测数据"},
    "volume_start": {"en": "Stand volume at start (m³)", "zh": "期初蓄积量（立方米）"},
    "volume_end": {"en": "Stand volume at end (m³)", "zh": "期末蓄积量（立方米）"},
    "parameters": {"en": "Parameters", "zh": "参数"},
    "calculation": {"en": "Calculation", "zh": "计算过程"},
    "report_sha256": {"en": "Report SHA-256", "zh": "监测报告 SHA-256"},
    "attestations": {"en": "Attestations", "zh": "审定与核证意见"},
    "attestation": {"en": "Attestation", "zh": "审定/核证意见"},
    "kind": {"en": "Kind", "zh": "类型"},
    "verifier_org": {"en": "Verifier", "zh": "审定与核查机构"},
    "signer_key": {"en": "Signing key", "zh": "签名密钥"},
    "subject_sha256": {"en": "Attested document SHA-256", "zh": "所审文件 SHA-256"},
    "positive": {"en": "Positive", "zh": "结论为通过"},
    "verified_quantity": {"en": "Verified quantity (t CO₂e)", "zh": "核证量（吨）"},
    "site_visit_date": {"en": "Site visit", "zh": "现场核查日期"},
    "batches": {"en": "Issuance batches", "zh": "签发批次"},
    "batch": {"en": "Issuance batch", "zh": "签发批次"},
    "batch_id": {"en": "Batch id", "zh": "批次编号"},
    "quantity": {"en": "Quantity (t CO₂e)", "zh": "数量（吨）"},
    "owner_quantity": {"en": "To the owner", "zh": "划入业主"},
    "buffer_quantity": {"en": "To the buffer pool", "zh": "划入缓冲池"},
    "buffer_rate": {"en": "Buffer rate", "zh": "缓冲比例"},
    "serial": {"en": "Serial numbers", "zh": "序列号"},
    "first_unit": {"en": "First unit", "zh": "起始单位"},
    "last_unit": {"en": "Last unit", "zh": "结束单位"},
    "subsidies": {"en": "Subsidies owed", "zh": "应付补贴"},
    "amount": {"en": "Amount (RMB)", "zh": "金额（元）"},
    "rate": {"en": "Rate (RMB per t)", "zh": "标准（元/吨）"},
    # -- retirements, trace, certificates --------------------------------------------
    "retirements": {"en": "Retirements", "zh": "注销记录"},
    "retirement": {"en": "Retirement", "zh": "注销"},
    "purpose": {"en": "Use", "zh": "用途"},
    "enterprise": {"en": "Retired by", "zh": "注销方"},
    "beneficiary": {"en": "Beneficiary", "zh": "受益方"},
    "reason": {"en": "Reason", "zh": "事由"},
    "compliance_period": {"en": "Compliance period", "zh": "履约期"},
    "certificate": {"en": "Retirement certificate", "zh": "注销证明"},
    "certificate_lead": {
        "en": "This certifies that the carbon credits below were retired on the Forest "
        "Carbon Ledger and can never be transferred or retired again.",
        "zh": "兹证明下列碳信用已在林业碳汇账本上注销，不可再转让或重复注销。",
    },
    "certificate_download": {"en": "Download the certificate (JSON)", "zh": "下载注销证明（JSON）"},
    "certificate_verify_offline": {
        "en": "Anyone can verify the certificate offline with nothing but the certificate "
        "and the network's genesis. Scan the code to verify it online.",
        "zh": "任何人仅凭本证明和网络创世文件即可离线验证；扫描二维码可在线验证。",
    },
    "certificate_unavailable": {
        "en": "The node cannot build this certificate right now.",
        "zh": "节点暂时无法生成该注销证明。",
    },
    "verification_url": {"en": "Verification page", "zh": "验证页面"},
    "trace": {"en": "Trace of a serial number", "zh": "序列号溯源"},
    "trace_lead": {
        "en": "Every signed step from the forest plot to this unit's present state.",
        "zh": "从林地地块到该单位当前状态的每一个签名步骤。",
    },
    "unit": {"en": "Unit", "zh": "单位"},
    "current_range": {"en": "Current range", "zh": "当前所在区间"},
    "current_state": {"en": "State", "zh": "状态"},
    "holder": {"en": "Holder", "zh": "持有方"},
    "from": {"en": "From", "zh": "转出方"},
    "to": {"en": "To", "zh": "转入方"},
    "step": {"en": "Step", "zh": "步骤"},
    "trace_this": {"en": "Trace", "zh": "溯源"},
    "last_updated": {"en": "record last changed by", "zh": "记录最近变更于交易"},
    # -- verification -------------------------------------------------------------------
    "verify": {"en": "Verify a retirement certificate", "zh": "验证注销证明"},
    "verify_lead": {
        "en": "Upload a certificate file or paste its JSON. The explorer checks it with the "
        "network's genesis only: proofs, block header, validators' signatures.",
        "zh": "上传注销证明文件或粘贴其 JSON。浏览器仅依据网络创世文件进行核验：包含证明、"
        "区块头和验证节点签名。",
    },
    "upload_file": {"en": "Certificate file (JSON, at most 1 MiB)", "zh": "证明文件（JSON，不超过 1 MiB）"},
    "paste_json": {"en": "…or paste the JSON", "zh": "……或粘贴 JSON"},
    "check": {"en": "Check", "zh": "检查项"},
    "checks": {"en": "Checks", "zh": "检查项"},
    "passed": {"en": "passed", "zh": "通过"},
    "failed": {"en": "failed", "zh": "未通过"},
    "skipped": {"en": "not checked (an earlier check failed)", "zh": "未检查（前置检查未通过）"},
    "verified_facts": {"en": "What the certificate proves", "zh": "证明所确认的内容"},
    "verdict": {"en": "Verdict", "zh": "结论"},
    "verdict_valid": {"en": "The certificate is valid.", "zh": "该注销证明有效。"},
    "verdict_invalid": {"en": "The certificate is NOT valid.", "zh": "该注销证明无效。"},
    "verified_against": {"en": "Checked against genesis", "zh": "核验所用创世哈希"},
    "submit_verify": {"en": "Verify", "zh": "验证"},
}

#: Labels of ledger enum values, by group.
VALUES: dict[str, dict[str, dict[str, str]]] = {
    "role": {
        "regulator": {"en": "regulator", "zh": "主管部门"},
        "verifier": {"en": "verifier", "zh": "审定与核查机构"},
        "owner": {"en": "project owner", "zh": "项目业主"},
        "exchange": {"en": "exchange", "zh": "碳交易机构"},
        "buyer": {"en": "buyer / compliance enterprise", "zh": "买方 / 控排企业"},
    },
    "project_status": {
        "submitted": {"en": "submitted", "zh": "已提交"},
        "validated": {"en": "validated", "zh": "已审定"},
        "registered": {"en": "registered", "zh": "已备案"},
    },
    "report_status": {
        "submitted": {"en": "submitted", "zh": "已提交"},
        "verified": {"en": "verified", "zh": "已核证"},
        "issued": {"en": "issued", "zh": "已签发"},
        "withdrawn": {"en": "withdrawn", "zh": "已撤回"},
    },
    "org_status": {
        "active": {"en": "active", "zh": "正常"},
        "suspended": {"en": "suspended", "zh": "已暂停"},
        "revoked": {"en": "revoked", "zh": "已吊销"},
    },
    "attestation_kind": {
        "validation": {"en": "validation", "zh": "审定"},
        "verification": {"en": "verification", "zh": "核证"},
    },
    "unit_state": {
        "held": {"en": "held", "zh": "持有"},
        "listed": {"en": "listed", "zh": "挂牌中"},
        "retired": {"en": "retired", "zh": "已注销"},
        "cancelled": {"en": "cancelled", "zh": "已作废"},
        "buffer": {"en": "buffer pool", "zh": "缓冲池"},
    },
    "purpose": {
        "compliance": {"en": "compliance offset", "zh": "履约抵消"},
        "voluntary": {"en": "voluntary", "zh": "自愿注销"},
    },
    "action": {
        "issue": {"en": "issuance", "zh": "签发"},
        "list": {"en": "listed on the exchange", "zh": "挂牌"},
        "delist": {"en": "listing withdrawn", "zh": "撤牌"},
        "trade": {"en": "exchange trade", "zh": "场内交易"},
        "transfer": {"en": "off-exchange transfer", "zh": "场外转让"},
        "retire": {"en": "retirement", "zh": "注销"},
        "loss": {"en": "loss event (reversal)", "zh": "损失事件（逆转）"},
        "invalidate": {"en": "invalidated", "zh": "作废"},
        "freeze": {"en": "frozen", "zh": "冻结"},
        "unfreeze": {"en": "unfrozen", "zh": "解冻"},
        "plot": {"en": "forest plot registered", "zh": "地块登记"},
        "project": {"en": "project design submitted", "zh": "项目设计文件提交"},
        "validation": {"en": "validation", "zh": "审定"},
        "registration": {"en": "registration", "zh": "备案"},
        "report": {"en": "monitoring report", "zh": "监测报告"},
        "verification": {"en": "verification", "zh": "核证"},
        "batch": {"en": "issuance", "zh": "签发"},
    },
    "cause": {
        "fire": {"en": "fire", "zh": "火灾"},
        "pests": {"en": "pests", "zh": "病虫害"},
        "illegal_felling": {"en": "illegal felling", "zh": "盗伐"},
        "other": {"en": "other", "zh": "其他"},
    },
    "risk": {
        "low": {"en": "low", "zh": "低"},
        "medium": {"en": "medium", "zh": "中"},
        "high": {"en": "high", "zh": "高"},
    },
    "tenure": {
        "real_estate_cert": {"en": "real estate certificate", "zh": "不动产证"},
        "forest_right_cert": {"en": "forest right certificate", "zh": "林权证"},
        "land_contract": {"en": "land contract", "zh": "土地承包合同"},
    },
    "species": {
        "chinese_fir": {"en": "Chinese fir", "zh": "杉木"},
        "masson_pine": {"en": "Masson pine", "zh": "马尾松"},
        "eucalyptus": {"en": "Eucalyptus", "zh": "桉树"},
    },
    "check": {
        "ok": {"en": "passed", "zh": "通过"},
        "failed": {"en": "failed", "zh": "未通过"},
    "skipped": {"en": "not checked (an earlier check failed)", "zh": "未检查（前置检查未通过）"},
    "verified_facts": {"en": "What the certificate proves", "zh": "证明所确认的内容"},
    },
}


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

    def value(self, group: str, value: object) -> str:
        labels: Mapping[str, Mapping[str, str]] = VALUES.get(group, {})
        if isinstance(value, str) and value in labels:
            return labels[value][self.lang]
        return "" if value is None else str(value)
