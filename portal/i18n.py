"""The portal's labels in English and Chinese (the explorer's pattern: one table of
``(English, Chinese)`` pairs; the domain terms of DOMAIN.md: 备案, 审定, 核证, 签发,
注销, 缓冲池, 项目业主, 审定与核查机构, 碳交易机构, 控排企业, 监测报告).

:data:`LABELS` holds the page texts, :data:`METHODS` a title for every contract method
(a test keeps it covering every method), :data:`FIELDS` the labels of argument names (an
argument without one is shown by its name). The language is chosen by ``?lang=``, then
the ``fcl_lang`` cookie, then ``Accept-Language``.
"""

from __future__ import annotations

__all__ = ["COOKIE", "DEFAULT_LANG", "FIELDS", "HINTS", "LABELS", "LANGS", "METHODS", "ROLES",
           "Translator", "choose_lang"]

LANGS = ("en", "zh")
DEFAULT_LANG = "en"
COOKIE = "fcl_lang"

LABELS: dict[str, tuple[str, str]] = {
    "site_title": ("Forest Carbon Ledger portal", "林业碳汇账本业务门户"),
    "switch_lang": ("中文", "English"),
    "local_note": ("Runs on your machine. Your private key stays in this program; only "
                   "signed transactions go to the node.",
                   "本程序运行在您的计算机上。私钥只保存在本程序内存中，发送给节点的只有已签名的交易。"),
    "unlock_title": ("Unlock your key", "解锁密钥"),
    "keystore_file": ("Keystore file", "密钥库文件"),
    "public_key": ("Public key", "公钥"),
    "passphrase": ("Passphrase", "密码"),
    "this_key": ("this portal's key", "本门户的密钥"),
    "unlock": ("Unlock", "解锁"),
    "lock": ("Lock", "锁定"),
    "node": ("Node", "节点"),
    "chain_id": ("Chain id", "链标识"),
    "height": ("Height", "区块高度"),
    "organisation": ("Organisation", "机构"),
    "roles": ("Roles", "角色"),
    "not_enrolled": ("This key is not enrolled in any organisation on this chain: forms "
                     "for every method are shown, and the dry run will say what is refused.",
                     "该密钥未在本链任何机构登记：下面列出全部表单，试运行会说明被拒绝的原因。"),
    "your_steps": ("Your steps", "您可办理的业务"),
    "any_member": ("Any member key", "任何成员密钥"),
    "dry_run": ("Check (dry run)", "检查（试运行）"),
    "dry_run_result": ("Dry run on the ledger as it is now", "按当前账本试运行的结果"),
    "dry_run_ok": ("The ledger would accept this transaction.", "账本将接受该交易。"),
    "dry_run_refused": ("The ledger would refuse this transaction; nothing was submitted.",
                        "账本将拒绝该交易，未作任何提交。"),
    "node_message": ("The node's message", "节点说明"),
    "code": ("Code", "代码"),
    "events": ("Events", "事件"),
    "returned": ("Returned", "返回值"),
    "sign_submit": ("Sign and submit", "签名并提交"),
    "sign_export": ("Sign and export for co-signature", "签名并导出供对方联署"),
    "committed_ok": ("Committed: the transaction succeeded.", "已上链：交易成功。"),
    "committed_failed": ("Committed, but the transaction failed; it changed nothing.",
                         "已上链，但交易失败，未改变任何内容。"),
    "tx_id": ("Transaction id", "交易哈希"),
    "in_explorer": ("Open in the explorer", "在浏览器中查看"),
    "certificate": ("Download the retirement certificate", "下载注销证明"),
    "back": ("Back to your steps", "返回业务列表"),
    "required": ("required", "必填"),
    "optional": ("optional", "选填"),
    "or_file": ("or choose the document: its SHA-256 is computed here, the file is not sent",
                "或选择文件：在本机计算其 SHA-256，文件不会上传"),
    "co_signers": ("Co-signers' public keys (one per line; for steps two organisations sign)",
                   "联署方公钥（每行一个；用于需双方签名的业务）"),
    "payload": ("What the transaction does", "交易内容"),
    "contract": ("Contract", "合约"),
    "method": ("Step", "业务"),
    "signers": ("Signers", "签名方"),
    "signed": ("signed", "已签"),
    "not_signed": ("not signed yet", "未签"),
    "export_title": ("Partly signed transaction", "待联署交易"),
    "export_note": ("Give this file (or the QR code) to the other party. They open it in "
                    "their portal under \"Co-sign\", check it, sign and submit it.",
                    "请将此文件（或二维码）交给对方，对方在其门户“联署”页导入、核对、签名并提交。"),
    "download_file": ("Download the file", "下载文件"),
    "qr_too_large": ("Too large for a QR code; use the file.", "内容过大，无法生成二维码，请使用文件。"),
    "cosign_title": ("Co-sign a transaction", "联署交易"),
    "cosign_file": ("Partly signed transaction file", "待联署交易文件"),
    "or_paste": ("or paste its text", "或粘贴其内容"),
    "check": ("Check", "检查"),
    "cosign_submit": ("Co-sign and submit", "联署并提交"),
    "cosign_export": ("Co-sign and export", "联署并导出"),
    "geojson_file": ("Plot boundary: GeoJSON file (a WGS 84 Polygon)",
                     "地块边界：GeoJSON 文件（WGS 84 多边形）"),
    "map_preview": ("Map preview", "地图预览"),
    "area_check": ("Area check (the contract's own computation)", "面积核对（与合约相同的算法）"),
    "area_measured": ("Geodesic area of the polygon", "边界的椭球面积"),
    "area_declared": ("Declared area", "申报面积"),
    "area_ok": ("within the tolerance of {tol} %", "在 {tol}% 的允许误差内"),
    "area_bad": ("differs by more than the tolerance of {tol} %", "超出 {tol}% 的允许误差"),
    "area_small": ("smaller than the minimum parcel of {min} m²", "小于最小地块面积 {min} 平方米"),
    "document_hash": ("SHA-256 of the document, computed here", "文件的 SHA-256（本机计算）"),
    "forbidden": ("Forbidden: the request lacks this portal's session or form token.",
                  "拒绝：请求缺少本门户的会话或表单令牌。"),
    "locked_note": ("The portal is locked.", "门户已锁定。"),
    "error": ("Error", "错误"),
    "unknown_form": ("No such form.", "没有该表单。"),
    "unknown_draft": ("This prepared transaction is gone (the portal was locked or it is too "
                      "old); fill in the form again.", "该待提交交易已失效（门户曾锁定或已过期），请重新填写。"),
    "not_a_signer_note": ("Your key is not among this transaction's signers; it can be "
                          "submitted here only once every signer has signed.",
                          "您的密钥不在该交易签名方之列；须所有签名方均已签署后方可在此提交。"),
    "cosign_link": ("Co-sign a transaction from another party", "联署他方发来的交易"),
    "calculate": ("Calculate (free calculation service)", "计算（免费计算服务）"),
    "calc_result": ("The calculation service's figures for these measurements",
                    "免费计算服务对上述实测数据的计算结果"),
    "calc_claim_filled": ("The claimed issuable below is set to the computed {issuable} t; "
                          "the contract accepts only this figure.",
                          "下方申报可签发量已填为计算结果 {issuable} 吨；合约只接受该数值。"),
    "calc_all": ("Every intermediate figure", "全部中间结果"),
    "calculator_hint": ("Check the figures first with the free calculation service (the "
                        "explorer's calculator).", "请先用免费计算服务（浏览器中的计算器）核对数据。"),
}

#: The rule of an input, by argument kind (``portal.forms.Field.hint``).
HINTS: dict[str, tuple[str, str]] = {
    "hint_int": ("a whole number", "整数"),
    "hint_int_min": ("a whole number, at least {lo}", "整数，不小于 {lo}"),
    "hint_int_range": ("a whole number from {lo} to {hi}", "整数，{lo} 至 {hi}"),
    "hint_decimal": ("a decimal number, at most {places} places, e.g. 12.5",
                     "小数，最多 {places} 位小数，如 12.5"),
    "hint_decimal_signed": ("a decimal number, at most {places} places, may be negative",
                            "小数，最多 {places} 位小数，可为负数"),
    "hint_hex32": ("a SHA-256: 64 hex digits", "SHA-256：64 位十六进制数"),
    "hint_pubkey": ("an Ed25519 public key: 64 hex digits", "Ed25519 公钥：64 位十六进制数"),
    "hint_id": ("an identifier: letters, digits and . _ : -", "编号：字母、数字及 . _ : -"),
    "hint_pattern": ("must match {pattern}", "须符合 {pattern}"),
    "hint_lines": ("one per line", "每行一个"),
    "hint_json": ("JSON: integers or decimal strings, no floats",
                  "JSON：整数或小数字符串，不得使用浮点数"),
}

ROLES: dict[str, tuple[str, str]] = {
    "regulator": ("Regulator", "主管部门"),
    "owner": ("Project owner", "项目业主"),
    "verifier": ("Verifier", "审定与核查机构"),
    "exchange": ("Exchange", "碳交易机构"),
    "buyer": ("Buyer / compliance enterprise", "买方 / 控排企业"),
}

METHODS: dict[str, tuple[str, str]] = {
    "membership.enrol_key": ("Enrol a member key", "登记成员密钥"),
    "membership.enrol_observer": ("Admit an observer node", "准入观察节点"),
    "membership.enrol_org": ("Enrol an organisation", "登记机构"),
    "membership.revoke_key": ("Revoke a member key", "撤销成员密钥"),
    "membership.revoke_observer": ("Revoke an observer node", "撤销观察节点"),
    "membership.set_accreditation": ("Grant, renew or revoke an accreditation", "授予、续期或撤销资质"),
    "membership.update_org_status": ("Suspend or reactivate an organisation", "暂停或恢复机构"),
    "params.set_param": ("Set a policy parameter", "设置政策参数"),
    "notary.record": ("Record a document's hash", "登记文件哈希"),
    "carbon.accrue_subsidy": ("Record the subsidy owed for a batch", "记录批次应付补贴"),
    "carbon.attest_validation": ("Validation attestation", "出具审定意见"),
    "carbon.attest_verification": ("Verification attestation", "出具核证意见"),
    "carbon.cancel_listing": ("Withdraw a listing", "撤销挂牌"),
    "carbon.create_listing": ("List units for sale", "挂牌出售"),
    "carbon.exclude_plot": ("Exclude a plot from a project", "从项目中剔除地块"),
    "carbon.freeze": ("Freeze units", "冻结单位"),
    "carbon.invalidate": ("Invalidate units", "作废单位"),
    "carbon.issue": ("Issue credits for a verified report", "签发减排量"),
    "carbon.match_trade": ("Record a matched trade", "登记撮合成交"),
    "carbon.record_comment_window": ("Record the public comment window", "登记公示期"),
    "carbon.record_loss_event": ("Record a loss event", "登记损失事件"),
    "carbon.record_obligation": ("Record a compliance obligation", "登记履约义务"),
    "carbon.record_subsidy_paid": ("Record a subsidy as paid", "登记补贴已支付"),
    "carbon.register_plot": ("Register a forest plot", "登记林地地块"),
    "carbon.register_project": ("Register a project", "项目备案"),
    "carbon.retire_compliance": ("Compliance retirement", "履约抵消注销"),
    "carbon.retire_voluntary": ("Voluntary retirement", "自愿注销"),
    "carbon.revise_pdd": ("Revise the project design document", "修订项目设计文件"),
    "carbon.submit_monitoring_report": ("Submit a monitoring report", "提交监测报告"),
    "carbon.submit_project": ("Submit a project with its PDD", "提交项目及项目设计文件"),
    "carbon.transfer": ("Off-exchange transfer (both organisations sign)", "协议转让（双方签名）"),
    "carbon.unfreeze": ("Lift a freeze", "解除冻结"),
    "carbon.withdraw_report": ("Withdraw a monitoring report", "撤回监测报告"),
    "governance.approve_validator_change": ("Approve a validator-set change", "批准验证节点变更"),
    "governance.propose_validator_change": ("Propose a validator-set change", "提议验证节点变更"),
    "governance.withdraw_validator_change": ("Withdraw a validator-set change", "撤回验证节点变更"),
}

FIELDS: dict[str, tuple[str, str]] = {
    "plot_id": ("Plot id", "地块编号"),
    "project_id": ("Project id", "项目编号"),
    "batch_id": ("Batch id", "签发批次编号"),
    "report_id": ("Report id", "监测报告编号"),
    "attestation_id": ("Attestation id", "意见编号"),
    "listing_id": ("Listing id", "挂牌编号"),
    "org_id": ("Organisation id", "机构编号"),
    "from_org": ("From organisation", "转出机构"),
    "to_org": ("To organisation", "转入机构"),
    "buyer_org": ("Buyer organisation", "买方机构"),
    "exchange_org": ("Exchange", "碳交易机构"),
    "enterprise_org": ("Compliance enterprise", "控排企业"),
    "quantity": ("Quantity (t CO2e)", "数量（吨二氧化碳当量）"),
    "price": ("Price (yuan per t)", "价格（元/吨）"),
    "first": ("First serial unit", "起始单位号"),
    "last": ("Last serial unit", "终止单位号"),
    "reason": ("Reason", "原因"),
    "name": ("Name", "名称"),
    "declared_area_ha": ("Declared area (ha)", "申报面积（公顷）"),
    "county_code": ("County code (6 digits)", "县级行政区划代码（6位）"),
    "tenure": ("Land tenure document", "林权证明"),
    "doc_type": ("Document type", "证件类型"),
    "doc_number": ("Document number", "证件编号"),
    "scan_sha256": ("SHA-256 of the scan", "扫描件 SHA-256"),
    "species": ("Species", "树种"),
    "planting_date": ("Planting date (YYYY-MM-DD)", "造林日期（YYYY-MM-DD）"),
    "non_forest_evidence": ("Non-forest evidence", "无林地证明"),
    "sha256": ("SHA-256", "SHA-256"),
    "years": ("Years covered", "覆盖年数"),
    "strata": ("Strata (JSON)", "分层（JSON）"),
    "polygon": ("Boundary polygon (ledger form, JSON)", "边界多边形（账本格式 JSON）"),
    "pdd_sha256": ("SHA-256 of the PDD", "项目设计文件 SHA-256"),
    "report_sha256": ("SHA-256 of the report", "监测报告 SHA-256"),
    "evidence_sha256": ("SHA-256 of the evidence", "证据文件 SHA-256"),
    "positive": ("Positive opinion", "审定结论为通过"),
    "site_visit_date": ("Site visit date", "现场核查日期"),
    "verified_quantity": ("Verified quantity (t CO2e)", "核证量（吨二氧化碳当量）"),
    "period": ("Compliance period", "履约期"),
    "period_start": ("Period start", "监测期开始"),
    "period_end": ("Period end", "监测期结束"),
    "beneficiary": ("Beneficiary", "受益方"),
    "settlement_ref": ("Settlement reference", "结算凭证号"),
    "settlement_date": ("Settlement date", "结算日期"),
    "obligation_tonnes": ("Obligation (t)", "履约义务（吨）"),
    "payment_ref": ("Payment reference", "支付凭证号"),
    "paid_date": ("Date paid", "支付日期"),
    "cause": ("Cause", "原因类别"),
    "description": ("Description", "描述"),
    "value": ("Value (JSON)", "取值（JSON）"),
    "roles": ("Roles (one per line)", "角色（每行一个）"),
    "admins": ("Admin public keys (one per line)", "管理员公钥（每行一个）"),
    "pub_key": ("Public key", "公钥"),
    "admin": ("Admin key", "管理员密钥"),
    "methodology": ("Methodology", "方法学"),
    "plots": ("Plots (one per line)", "地块（每行一个）"),
    "start_date": ("Start date", "开始日期"),
    "end_date": ("End date", "结束日期"),
    "crediting_period_years": ("Crediting period (years)", "计入期（年）"),
    "risk_rating": ("Risk rating", "风险等级"),
    "measurements": ("Measurements (JSON)", "实测数据（JSON）"),
    "claimed_issuable": ("Claimed issuable (t CO2e)", "申报可签发量（吨）"),
    "carbon_start": ("Carbon stock at the start (t CO2e)", "期初碳储量（吨二氧化碳当量）"),
    "carbon_end": ("Carbon stock at the end (t CO2e)", "期末碳储量（吨二氧化碳当量）"),
    "delta_c_project": ("Change of the project's carbon stock", "项目碳储量变化量"),
    "growth": ("Growth above the high-water mark (micro-t)", "超过历史最高储量的增长（微吨）"),
    "fall": ("Fall below the start stock (micro-t)", "低于期初储量的下降（微吨）"),
    "baseline": ("Baseline (t CO2e)", "基线（吨二氧化碳当量）"),
    "leakage": ("Leakage (t CO2e)", "泄漏（吨二氧化碳当量）"),
    "project_emissions": ("Project emissions (t CO2e)", "项目排放（吨二氧化碳当量）"),
    "er": ("Emission removals before deduction (t CO2e)", "扣减前的碳汇量（吨二氧化碳当量）"),
    "uncertainty_deduction_amount": ("Uncertainty deduction (t CO2e)", "不确定性扣减（吨二氧化碳当量）"),
    "issuable": ("Issuable (whole t)", "可签发量（整吨）"),
    "buffer_rate": ("Buffer rate", "缓冲比例"),
    "to_buffer": ("To the buffer pool (t)", "划入缓冲池（吨）"),
    "to_owner": ("To the owner (t)", "归项目业主（吨）"),
}


def choose_lang(query: str | None, cookie: str | None, accept_language: str | None) -> str:
    for given in (query, cookie):
        if given in LANGS:
            return str(given)
    if accept_language:
        for part in accept_language.split(","):
            tag = part.split(";")[0].strip().lower()
            if tag.startswith("zh"):
                return "zh"
            if tag.startswith("en"):
                return "en"
    return DEFAULT_LANG


class Translator:
    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in LANGS else DEFAULT_LANG
        self._i = LANGS.index(self.lang)

    def __call__(self, key: str, **fmt: object) -> str:
        texts = LABELS.get(key)
        text = texts[self._i] if texts else key
        return text.format(**fmt) if fmt else text

    def method(self, form_key: str) -> str:
        texts = METHODS.get(form_key)
        return texts[self._i] if texts else form_key

    def field(self, name: str) -> str:
        texts = FIELDS.get(name)
        return texts[self._i] if texts else name.replace("_", " ")

    def hint(self, key: str, values: dict[str, object]) -> str:
        texts = HINTS.get(key)
        return texts[self._i].format(**values) if texts else ""

    def role(self, name: str) -> str:
        texts = ROLES.get(name)
        return texts[self._i] if texts else name
