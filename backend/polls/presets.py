"""Ready-made question sets for the two polls of a rating campaign (seed 000: 党员测评 and
群众测评), mapped to the rubric criteria they score. Between them they reach every poll item of
the shipped rubrics, each from a poll of the audience the item names (RUBRICS.md: G5 and T5
party members, R5 and S5 the masses, O5 both)."""

from __future__ import annotations

PRESETS = {
    "mass": {
        "title": "群众满意度测评",
        "audience": "mass",
        "description": "本测评匿名进行，不记录您的身份。请根据您的真实感受作答。",
        "questions": [
            {"text": "您对社区为民服务工作的总体满意度", "kind": "rating5", "criterion_code": "S5", "weight": 1},
            {"text": "您对微心愿、便民服务办理情况的满意度", "kind": "rating5", "criterion_code": "S5", "weight": 1},
            {"text": "您对社区与驻区单位共建活动的满意度", "kind": "rating5", "criterion_code": "R5", "weight": 1},
            {"text": "您对社区党组织办事公开、规范运转的评价", "kind": "rating5", "criterion_code": "O5", "weight": 1},
            {"text": "您最希望社区加强哪方面的服务", "kind": "choice",
             "options": ["助老助残", "儿童托管", "环境卫生", "停车管理", "文体活动"], "multiple": True,
             "required": False},
            {"text": "您的意见和建议", "kind": "text", "required": False},
        ],
    },
    "party_member": {
        "title": "党员测评",
        "audience": "party_member",
        "description": "本测评匿名进行，仅核实您是本社区党员，不记录答卷与身份的对应关系。",
        "questions": [
            {"text": "您对网格党支部和网格工作的评价", "kind": "rating5", "criterion_code": "G5", "weight": 1},
            {"text": "您对社区党组织班子的总体评价", "kind": "rating5", "criterion_code": "T5", "weight": 1},
            {"text": "您对社区班子廉洁自律、作风建设的评价", "kind": "rating5", "criterion_code": "T5", "weight": 1},
            {"text": "您对社区党组织落实三会一课、事务公开等规范运转的评价", "kind": "rating5", "criterion_code": "O5",
             "weight": 1},
            {"text": "您对班子的意见和建议", "kind": "text", "required": False},
        ],
    },
}


def uncounted(questions: list[dict]) -> list[dict]:
    """The same questions mapped to nothing: a poll that feeds no score."""
    return [{k: v for k, v in q.items() if k not in ("criterion_code", "weight")} for q in questions]
