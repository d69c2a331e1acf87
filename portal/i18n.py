"""The portal's labels in English and Chinese (the explorer's pattern: one table of
``(English, Chinese)`` pairs; the domain terms of DOMAIN.md: 备案, 审定, 核证, 签发,
注销, 缓冲池, 项目业主, 审定与核查机构, 碳交易机构, 控排企业, 监测报告).

:data:`LABELS` holds the page texts, :data:`METHODS` a title for every contract method
(a test keeps it covering every method), :data:`FIELDS` the labels of argument names (an
argument without one is shown by its name). The language is chosen by ``?lang=``, then
the ``fcl_lang`` cookie, then ``Accept-Language``.
"""

from __future__ import annotations

from chaincode.calc_texts import CALC_TEXTS

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
    "certificate_node": ("the same on the node", "节点上的同一证明"),
    "back": ("Back to your steps", "返回业务列表"),
    "required": ("required", "必填"),
    "optional": ("optional", "选填"),
    "or_file": ("or choose the document: its SHA-256 is computed here, and the file is "
                "uploaded to the node's document store when you sign and submit",
                "或选择文件：在本机计算其 SHA-256，签名提交时文件上传至节点的文件库"),
    "restricted_scan": ("restricted (land-tenure scan)", "限制访问（林权证扫描件）"),
    "documents_to_upload": ("Documents to upload when you sign", "签名时上传的文件"),
    "documents_note": ("Signing first uploads each file to the node's document store, signed "
                       "with your key; if the node refuses one, nothing is submitted.",
                       "签名时先以您的密钥签名上传各文件至节点的文件库；若节点拒收任一文件，交易不会提交。"),
    "doc_argument": ("Argument", "参数"),
    "doc_file": ("File", "文件"),
    "doc_type": ("Type", "类型"),
    "doc_size": ("Bytes", "字节数"),
    "doc_no_type": ("not a type the nodes accept", "节点不接受的文件类型"),
    "yes": ("yes", "是"),
    "no": ("no", "否"),
    "documents_uploaded": ("Documents on the node", "节点上的文件"),
    "doc_restricted": ("restricted", "限制访问"),
    "doc_stored": ("uploaded now", "本次已上传"),
    "doc_already_held": ("the node already held it", "节点已有该文件"),
    "doc_refused": ("The document for {field} ({file}) was not accepted.",
                    "{field} 的文件（{file}）未被接收。"),
    "nothing_submitted": ("Nothing was submitted: the transaction was not signed or sent.",
                          "未提交任何内容：交易未签名、未发送。"),
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
    "pick_use": ("Use", "选用"),
    "pick_held": ("Your organisation holds {n} t (units listed for sale not included; frozen units cannot be retired).",
                  "本机构持有 {n} 吨减排量（不含挂牌中的；已冻结的不能注销）。"),
    "pick_none": ("Nothing on the ledger to pick right now.", "账本上目前没有可选项。"),
    "pick_validated": ("From the ledger: projects validated, waiting for registration",
                       "账本数据：已审定、待备案的项目"),
    "pick_submitted_projects": ("From the ledger: projects submitted for validation",
                                "账本数据：已提交、待审定的项目"),
    "pick_submitted_reports": ("From the ledger: monitoring reports waiting for verification",
                               "账本数据：待核证的监测报告"),
    "pick_verified_reports": ("From the ledger: reports verified, not yet issued",
                              "账本数据：已核证、待签发的监测报告"),
    "pick_unaccrued": ("From the ledger: issued batches whose subsidy is not yet accrued",
                       "账本数据：尚未计提补贴的签发批次"),
    "pick_owed": ("From the ledger: subsidies accrued and still owed", "账本数据：已计提、尚未支付的补贴"),
    "pick_listings": ("From the ledger: your exchange's open listings", "账本数据：本交易机构的在售挂牌"),
    "pick_buyers": ("From the ledger: the buyer organisations", "账本数据：控排企业及其他买方机构"),
    "pick_obligations": ("From the ledger: your compliance obligations", "账本数据：本机构的履约义务"),
    "pick_obligation_none": ("No obligation of your organisation was found for {periods}; type the period and press Check.",
                             "未找到本机构 {periods} 的履约义务；请填写履约期后检查。"),
    "pick_obligation_rule": ("Offsets may cover at most {cap} of an obligation (the offset cap in force); Use fills in the room left.",
                             "抵销量不得超过履约义务的 {cap}（现行抵销比例上限）；“选用”将填入剩余可抵销量。"),
    "pick_holdings": ("From the ledger: your organisation's units per project", "账本数据：本机构按项目持有的减排量"),
    "pick_batches": ("From the ledger: issued batches and their serial ranges", "账本数据：签发批次及其序列号区间"),
    "pick_plots": ("From the ledger: the registered projects' plots", "账本数据：已备案项目的地块"),
    "pick_params": ("From the ledger: the parameters in force", "账本数据：现行参数"),
    "pick_param_note": ("A decimal or text parameter is typed as it is shown (0.05, not \"0.05\"); tables and lists as JSON.",
                        "小数或文本参数按所示原样填写（如 0.05）；表格和列表用 JSON。"),
    "pick_hash_note": ("Choose the document under review: its SHA-256 is computed here and compared with the ledger's before you sign.",
                       "请选择所审核的文件：本机计算其 SHA-256，并在签名前与账本记录比对。"),
    "pk_project": ("Project", "项目"), "pk_name": ("Name", "名称"), "pk_owner": ("Owner", "业主"),
    "pk_plots": ("Plots", "地块"), "pk_pdd_sha256": ("PDD SHA-256 on the ledger", "账本记录的项目设计文件 SHA-256"),
    "pk_report": ("Report", "监测报告"), "pk_period": ("Period", "期间"),
    "pk_claimed": ("Claimed issuable (t)", "申报可签发量（吨）"),
    "pk_report_sha256": ("Report SHA-256 on the ledger", "账本记录的报告 SHA-256"),
    "pk_batch": ("Batch", "批次"), "pk_tonnes": ("Tonnes", "吨数"), "pk_amount": ("Amount (yuan)", "金额（元）"),
    "pk_listing": ("Listing", "挂牌"), "pk_seller": ("Seller", "卖方"), "pk_remaining": ("Remaining (t)", "剩余（吨）"),
    "pk_price": ("Price", "价格"), "pk_org": ("Organisation", "机构"),
    "pk_obligation": ("Obligation (t)", "履约义务（吨）"), "pk_cap": ("Offset cap (t)", "抵销上限（吨）"),
    "pk_retired": ("Retired (t)", "已注销（吨）"), "pk_room": ("Room left (t)", "剩余可抵销（吨）"),
    "pk_held": ("Held (t)", "持有（吨）"), "pk_listed": ("Listed (t)", "挂牌中（吨）"),
    "pk_serial": ("Serial range", "序列号区间"), "pk_frozen": ("Frozen (t)", "冻结（吨）"),
    "pk_plot": ("Plot", "地块"), "pk_param": ("Parameter", "参数"), "pk_value": ("Value in force", "现行值"),
    "pk_height": ("Set at block", "设定区块"),
    "hash_check": ("The document you chose and the ledger", "所选文件与账本记录比对"),
    "hash_match": ("The chosen file's SHA-256 is the one the ledger records.", "所选文件的 SHA-256 与账本记录一致。"),
    "hash_mismatch": ("The chosen file's SHA-256 is NOT the one the ledger records: you are not reviewing the document the owner submitted.",
                      "所选文件的 SHA-256 与账本记录不一致：您审核的不是业主提交的文件。"),
    "hash_file": ("The chosen file", "所选文件"), "hash_ledger": ("On the ledger", "账本记录"),
    "reviewed": ("What is under review", "审核对象"),
    "review_unknown": ("The ledger has nothing under this id.", "账本上没有该编号的记录。"),
    **{f"cs_{k}": v for k, v in CALC_TEXTS.items()},  # chaincode/calc_texts.py
    "cs_species_factors": ("Species factors in force (block {height})", "现行树种参数（区块 {height}）"),
    "cs_plot_id": ("Plot", "地块"),
    "cs_leakage": ("Leakage", "泄漏"),
    "cs_project_emissions": ("Project emissions", "项目排放"),
    "cs_refused": ("The calculation service refused these measurements",
                   "计量服务拒绝了这些实测数据"),
    "cs_before_signing": ("The calculation service's figures for this report (the contract computes the same)",
                          "计量服务对本报告的计算（合约按同样方法复核）"),
    "rp_project": ("Project", "项目"),
    "rp_load": ("Show its plots", "列出地块"),
    "rp_no_projects": ("No project of your organisation is on the ledger yet.",
                       "账本上尚无贵机构的项目。"),
    "rp_unknown_project": ("The ledger has no such project.", "账本上没有该项目。"),
    "rp_plots": ("Measurements, one row a plot (from the ledger: species, area, strata, the stock the period starts from)",
                 "实测数据（每行一个地块；树种、面积、分层及期初储量取自账本）"),
    "rp_help": ("For each plot give the stand volume at the end of the period (a census), or, for a plot with strata, "
                "each stratum's sample plots: the area of one sample plot and the volume of every sample plot, one a line. "
                "A plot left empty is left out.",
                "每个地块填写期末蓄积量（全面调查）；分层地块也可按层填写样地：单个样地面积及每个样地的蓄积量（每行一个）。"
                "留空的地块不列入报告。"),
    "rp_start": ("Start (ledger)", "期初（账本）"),
    "rp_volume_end": ("Stand volume at the end, m³", "期末蓄积量（立方米）"),
    "rp_excluded": ("excluded by the regulator", "已被主管部门排除"),
    "rp_sample_area": ("One sample plot, ha", "单个样地面积（公顷）"),
    "rp_samples": ("Sample plot volumes, m³ (one a line)", "样地蓄积量（立方米，每行一个）"),
    "rp_json": ("Or give the measurements as JSON (advanced)", "或以 JSON 填写实测数据（高级）"),
    "rp_calc_first": ("Calculate first: the figures are shown step by step and the claimed issuable is filled in.",
                      "请先计算：逐步显示计算过程，并自动填入申报可签发量。"),
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
    "owner_org": ("Owner", "项目业主"),
    "monitoring_period": ("Monitoring period", "监测期"),
    "measured": ("Stand volumes measured (start → end)", "实测蓄积量（期初 → 期末）"),
    "status": ("Status", "状态"),
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
