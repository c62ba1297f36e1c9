"""Real model outputs as tables of cases for tests/grade/test_grading_real_outputs.py (issue 24).

GSM8K and GPQA-Diamond rows come from the labeled dev split `../shared/data/labeled/heldout2/`
(README there: sources, licenses, how each label was checked), MMLU-Pro rows from
tests/data/mmlu_pro_labeled.jsonl.gz. Each excerpt is the end of its response, verbatim, long
enough to be read as the whole response is (the tests check both where the data is present).
"""
from __future__ import annotations

# (row_id, protocol, gold, excerpt, extracted answer, is_correct); every label is is_correct.
GSM8K_CASES = [
    # A number with units or words: graded by the value it states.
    ('gsm8k-15dec55a7d4a919b', 'json_answer', '310',
     'for 8 batches of suckers and 1 batch of fudge is 240 ounces + 70 ounces = 310 ounc'
     'es.",\n    "answer": "310 ounces"\n}\n```',
     '310 ounces', True),
    ('gsm8k-ae723cd1d12d26f1', 'json_answer', '448',
     'L + 42 mL = 56 mL. For 8 doses, the total amount of medicine would be 56 mL * 8 = '
     '448 mL.",\n    "answer": "448 mL"\n}\n```',
     '448 mL', True),
    ('gsm8k-fb1a49862451be44', 'json_answer', '120',
     'ilometer: 2 km * 60 ml/km = 120 ml. Therefore, Hannah will need to drink 120 ml of'
     ' water.",\n    "answer": "120 ml"\n}\n```',
     '120 ml', True),
    ('gsm8k-bc2f554eed614bdf', 'json_answer', '50',
     ' he saves $50 per day (which is 2x).",\n\n    "answer": "Elvis has to save $50 per'
     ' day in the second half of April."\n}\n```',
     'Elvis has to save 50 per day in the second half of April', True),
    ('gsm8k-7effd092fb4c1a8f', 'json_answer', '125',
     'maximize profit.",\n    "answer": "The merchant would make a profit of $125 by cho'
     'osing the jewelry purchase plan."\n}\n```',
     'The merchant would make a profit of 125 by choosing the jewelry purchase plan', True),
    ('gsm8k-1a27ab8964bed454', 'json_answer', '15',
     'ons * Cost per gallon of lemons = 5 gallons * $3/gallon = $15\\n",\n    "answer": '
     '"The total cost of lemons is $15."\n}\n```',
     'The total cost of lemons is 15', True),
    ('gsm8k-dca682a2f69d3dbd', 'json_answer', '10',
     'ter giving pencils to Charlie, Anthony has 25 - 15 = 10 pencils left.\\n",\n    "a'
     'nswer": "Anthony kept 10 pencils."\n}\n```',
     'Anthony kept 10 pencils', True),
    # Bold answer phrases; the answer on the line after the phrase; bold and quotes unwrapped.
    ('gsm8k-6a10877e7237274b', 'boxed', '3',
     '\n   - Number of visits = $42 / $14 = 3\n\nTherefore, Peter can go to the movies 3'
     ' times with his $42.\n\n**Final Answer**: 3',
     '3', True),
    ('gsm8k-ac14de43f625b695', 'boxed', '60',
     'allowance\n   - Difference = $100 - $40\n   - Difference = $60\n\nTherefore, Baile'
     'y started with $60.\n\n**Final Answer**: $60',
     '60', True),
    ('gsm8k-3f33fbb4bc334721', 'boxed', '29',
     "ncluding tip = $24.00 + $5.00 = $29.00\n\nTherefore, Rory's total delivery order c"
     'ost is $29.00.\n\n**Final Answer**: $29.00',
     '29.00', True),
    ('gsm8k-9cff3b675c5db133', 'boxed', '42',
     '} $$\n\n$$ S = 6 \\times 7 $$\n\n$$ S = 42 $$\n\nTherefore, the number of teaspoon'
     'fuls of sugar Katy used is:\n\n**Answer:**  \n42',
     '42', True),
    ('gsm8k-e025b4896787b7d1', 'boxed', '50',
     'd out how many bags were sold, we divide the total profit by the profit per bag: $'
     '400 / $8 = 50.\n\n**Final Answer:**  \n50',
     '50', True),
    ('gsm8k-1f1328406dba105d', 'boxed', '23',
     'ng the relation with Mark:**\n   - Jean is two years older than Mark.\n   - So, Je'
     "an's age is 21 + 2 = 23.\n\n**Answer: 23**",
     '23', True),
    ('gsm8k-b1ebf82fb29c5f2a', 'boxed', '51',
     ' Four: 8 years\n- Granny Red: 16 years\n- Sally Two: 19 years\n\nTotal age = \\(8 '
     '+ 8 + 16 + 19 = 51\\) years.\n\n**Answer: 51**',
     '51', True),
    ('gsm8k-a0098824965d4537', 'boxed', '13',
     'not started earning money. Therefore, it will take one more year to start earning '
     'a positive net profit.\n\n**Answer**: 13',
     '13', True),
    ('gsm8k-f63b5ce10e2632a5', 'json_answer', '60',
     ' miles - 240 miles\nDifference = 60 miles\n\nTherefore, the bus traveled 60 miles '
     'farther than the car.\n\nAnswer: \\"60\\"\n```',
     '60', True),
    # Wrong stays wrong: an equation's result (after the last `=`), not its first number;
    # several numbers outside an equation state no value.
    ('gsm8k-4ed629b15d0162fb', 'json_answer', '4',
     'R+2) = 42.",\n    "answer": "R = 6"\n}\n\nSolving the equation 3R + 5(R+2) = 42:\n'
     '\nFirst, distribute the 5: 3R + 5R + 10 = 42\nCombine like terms: 8R + 10 = 42\nSu'
     'btract 10 from both sides: 8R = 32\nDivide both sides by 8: R = 32 / 8 = 6\n\nSo, '
     'Jerry has 6 red chickens.',
     'R = 6', False),
    ('gsm8k-122902c9881ca510', 'json_answer', '14',
     ' adding her scores from both games.",\n     "answer": "14 points (first game) + 4 '
     'points (second game) = 18 points"\n}\n```',
     '14 points (first game) + 4 points (second game) = 18 points', False),
    # Thousands grouped by a space; an abbreviated unit.
    ('gsm8k-0112fb232f496690', 'json_answer', '9500',
     " selling price, the total cost will be $409 500. This is $9 500 above Mrs. Cruz's "
     'budget.",\n    "answer": "$9 500"\n}\n```',
     '9 500', True),
    ('gsm8k-869660c3655f856c', 'json_answer', '68',
     ' bottle must be at least significantly hotter than 40 degrees.",\n "answer": "Sign'
     'ificantly hotter than 40 degrees"\n}\n```',
     'Significantly hotter than 40 degrees', False),
    ('gsm8k-1dba2773e4e76002', 'json_answer', '89',
     'ns and 3 + 60 = 63 small buttons.",\n    "answer": "Lorraine has 29 large buttons '
     'and 63 small buttons by the end."\n}\n```',
     'Lorraine has 29 large buttons and 63 small buttons by the end', False),
    ('gsm8k-69b8e4dacb2d97de', 'json_answer', '750',
     ' car = 1.25 * 600 mph = 750 mph\\n\\nTherefore, the fastest car can go 750 miles p'
     'er hour.",\n    "answer": "750 mph"\n}\n```',
     '750 mph', True),
]

# (row_id, gold letter, excerpt, letter read)
GPQA_CASES = [
    # The letter after a statement, on the next line when the statement ends its line; never
    # the first letter of a word ("Answer", "Based").
    ('gpqa-3bd953413ba7a147', 'D',
     's more specific information about the locations of the substituents on the double '
     'bonds is provided.\n\nFinal answer:\nA) 8',
     'A'),
    ('gpqa-5af5a777d2c11cdd', 'B',
     'and a smaller group (single hydrogen).\n\n### Final Answer:\nBased on the analysis'
     ' above, the correct answer is:\n\nAnswer: D',
     'D'),
    ('gpqa-fe6d977737764748', 'B',
     'material is:\n2-hydroxycyclohexane-1,3-dione.\n\n### Final Answer:\nBased on our a'
     'nalysis, the correct option is:\n\nAnswer: A',
     'A'),
    # The chosen option's marker, not a variable inside the option's text (old: C).
    ('gpqa-0e1e8a828c818b34', 'B',
     ' three products is:\n\n$$ D ) \\quad A = \\text{trimethyl 3-(p-tolyl)propane-1,1,2'
     '-tricarboxylate}, \\quad B = \\text{3-(2-hydroxycyclohex-1-en-1-yl)butanenitrile},'
     ' \\quad C = \\text{cyclohexane-1,3-dione} $$',
     'D'),
    # A final word that names no letter: unparsed (old: a standalone A, from N/A or elsewhere).
    ('gpqa-637663248012e2a3', 'C',
     'Li to calculate the relativistic mass. However, without specific values, we cannot'
     ' provide an exact answer.\n\nAnswer: N/A',
     None),
    ('gpqa-e3dbce49cd26c2e6', 'B',
     'not possible to determine the exact ratio of equilibrium temperatures between Plan'
     'et1 and Planet2.\n\nAnswer: $\\text{N/A}$',
     None),
    ('gpqa-30e444714fa233ef', 'D',
     'lution.\n\nThe Henderson-Hasselbalch equation is:\n\npH = pKa + log([A-]/[HA])\n\n'
     'Since the acid is monobasic, the concentration of the conjugate base (A-) is equal'
     ' to the concentration of the acid (HA). Therefore, the log term in the equation is'
     ' zero, and the pH is equal to the pKa of the acid.\n\nThe pKa of a monobasic stron'
     'g acid is typically very low, and the pH of the resulting solution would be very a'
     'cidic. However, without knowing the specific acid used, we cannot calculate the ex'
     'act pH.\n\nGiven the impractical volume of acid required and the lack of informati'
     'on about the specific acid, we cannot provide a precise answer to the question. Th'
     'e options provided do not seem to be based on a practical calculation, and the vol'
     'ume of acid required is not a practical amount.\n\nTherefore, we cannot provide a '
     'definitive answer to the question based on the information given.\n\nAnswer: None '
     'of the above',
     None),
    # Several letters, or variables given values: unparsed (old: A).
    ('gpqa-4a805cdac40debb6', 'B',
     'r the net potential energy.\n\nTherefore, the correct answer is not clear based on'
     ' the information provided.\n\nAnswer: ABCD',
     None),
    ('gpqa-885b15a6b8588796', 'D',
     're, A = H3O+ and B = HCl.\n\nAnswer: A = NaCN, B = H3O+ for the first reaction; A '
     '= H3O+, B = HCl for the second reaction.',
     None),
    # Markup around the letter; other languages; a last line starting with an option's marker.
    ('gpqa-ba29f286b8360885', 'B',
     'ta} + 2e^{-J\\beta} + e^{-3J\\beta}\n\\]\n\nSimplifying, we get:\n\\[\nZ = 2e^{3J'
     '\\beta} + 6e^{-J\\beta}\n\\]\n\nAnswer: \\( \\text{B} \\)',
     'B'),
    ('gpqa-6cf44f6b5cd7c262', 'B',
     'ally result in the specified compound.\n\nHowever, if forced to choose due to form'
     'atting requirements:\n\nAnswer: $\\text{A}$',
     'A'),
    ('gpqa-22f21aa73c0865de', 'B',
     'quilibrium temperatures is likely closer to 0.98 rather than significantly higher '
     'or lower.\n\n**Final Answer:** C) ~ 0.98',
     'C'),
    ('gpqa-47b51e1788cef487', 'D',
     'погрешности в расчетах и предположениях, наиболее близким к полученному значению я'
     'вляется вариант C (pH 2.04).\n\nОтвет: C',
     'C'),
    ('gpqa-6cbc7b6f12dadd0e', 'B',
     'd the real parts are $\\pm 1$.\n\nFinal answer:\n$$\n\\text{D)} \\quad \\text{The '
     'imaginary part of the eigenvalue of } \\hat{A}_y \\text{ are } \\pm \\frac{1}{2}, '
     '\\text{ and the real part of that are } \\pm 1.\n$$',
     'D'),
    # A line labelling the question's parts A) and B) is no choice (the source's LLM reader
    # said B; the text is option C's, so the label is doubtful, see the aggregate test).
    ('gpqa-a36570d623fb1304', 'B',
     'ine + H₃O⁺ ---> 3-(2-oxocyclohexyl)propanal\n\nTherefore, the correct answers are:'
     '\n\nA) HCl, B) 3-(2-oxocyclohexyl)propanal',
     None),
    ('gpqa-1b97e1a0d45cef10', 'D',
     'ypothetical exoplanet relative to the radius of the host star is approximately 0.3'
     '67.\n\nFinal answer: **Option B) ~0.39**',
     'B'),
    ('gpqa-7edfc10ef3eea628', 'D',
     'se range of possible hydrogen environments created through this sequence of reacti'
     'ons, the correct answer is:\n\n**B) 12**',
     'B'),
    # Two statements: the first decides (match="first", as simple-evals reads GPQA).
    ('gpqa-8f03ada65e2e0567', 'A',
     'r is:\n\nAnswer: C) 1, 2 and 4\n\nHowever, upon reevaluation, it appears there was'
     ' a mistake in the analysis of option 4. Dimethyl fumarate does not have a chiral c'
     'enter and thus does not exhibit optical isomerism. The correct answer should be:\n'
     '\nAnswer: A) 1 and 2',
     'C'),
    # One answer per part ("for Reaction 2, the answer is: C) …", "for Reaction 3 … D)"): no
    # letter for the question.
    ('gpqa-e14c6baa136076b3', 'B',
     'So, for **Reaction 2**, the answer is:\n**C) A = trimethyl 3-(p-tolyl)propane-1,1,2-t'
     'ricarboxylate, B = 3-(2-hydroxycyclohex-1-en-1-yl)butanenitrile, C = cyclohexane-1,3'
     '-dione**\n\n---\n\n### Reaction 3: C + but-3-en-2-one + (KOH, H2O)\n\nThis reaction does n'
     'ot fit the typical pattern of a Michael addition because there is no α,β-unsaturated'
     ' carbonyl present. Instead, it appears to involve a base-catalyzed condensation reac'
     'tion.\n\nThus, for **Reaction 3**, the answer is:\n**D) Not applicable (incorrect react'
     'ion)**',
     None),
]


# MMLU-Pro responses (tests/data, 10 options) read under multiple_choice: statements the cascade's
# last-letter fallback happened to find are read as statements; a guess is no longer made.
MMLU_PRO_CASES = [
    ("DeepSeek-Coder-V2|208", "C",
     "iven the options, the closest value to our calculated price is:\n\n\\[\n\\boxed{C}\n\\]",
     "C"),
    ("DeepSeek-Coder-V2|7453", "I",
     "get:\n\\[ Y = 600 \\]\n\nThus, the correct answer is:\n\\[ \\text{The answer is } (I) \\]",
     "I"),
    ("gpt-4o|8408", "B",
     "to 4 distinct boxes with no box left empty is:\n\n\\[\nThe\\ answer\\ is\\ (B)\\ 220.\n\\]",
     "B"),
    ("deepseek-chat|11830", "H",
     ")\n(c) \\(13,400 \\, \\text{V}\\) and \\(490 \\, \\text{V}\\)\n\nThe correct option is (A).",
     "A"),
    # "answer is False" is no letter F (the cascade read F); the final statement names C.
    ("c4ai-command-r-v01|10560", "F",
     "nglish sentences. So, the answer is False.\nTherefore, the final answer is (C).\n\n", "C"),
    # Two letters: unparsed (the cascade took F).
    ("Meta-Llama-3.1-8B-Instruct|6853", "F",
     "ural life\n(ii) Food security and population control\nThe answer is (F) and (H).\n\n",
     None),
    # Cut off in a calculation: no letter, where the cascade took the variable A of "$A=0$".
    ("Mixtral-8x7B-Instruct-v0.1|7880", "J",
     "B=10 / 14=5 / 7$. Since $x(0)=0$, we have $A=0$. Then $x=5 / 7 \\sin (14 t)$. The", None),
    ("Mixtral-8x7B-Instruct-v0.1|10739", "F",
     "Real(4j*e^j5πt)\n= Real(Ae^jBt) + Real(De^jEt)\nwhere A = 1, B = 3π, D = 4j, and E",
     None),
]
