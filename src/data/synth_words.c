/* Text tables of the synthetic shop (see synth_words.h for the placeholders). Brands, products
 * and book titles are invented; the Chinese tables are written as Chinese listings read (keyword
 * titles with Latin brands and units mixed in), not translated word for word. */
#include "data/synth_words.h"

#include <string.h>

#include "longtail/error.h"

#define W(...) ((const char *const[]){__VA_ARGS__, NULL})
#define COMP(...) {__VA_ARGS__, C_NONE}

enum { D_BEAUTY, D_ELECTRONICS, D_KITCHEN, D_HOME, D_SPORTS, D_TOYS, D_BOOKS, D_FASHION, D_GROCERY, D_PETS };

/* clang-format off */
const synth_category synth_cats[SYNTH_NCATS] = {
[C_MOISTURIZER] = {D_BEAUTY, B_SKIN, 1.2f, 28, {F_SKIN, F_SCENT}, COMP(C_SERUM, C_CLEANSER), {
  {"Beauty > Skin Care > Moisturizers", "{B} {F} {N} for {1}, {S}",
   W("Night Cream", "Day Cream", "Face Moisturizer", "Gel Cream", "Face Lotion", "Rich Cream"),
   W("Hydrating", "Vitamin C", "Hyaluronic Acid", "Ceramide", "Oil-Free", "Anti-Aging", "Brightening", "Niacinamide", "SPF 30"),
   W("50 ml", "1.7 fl oz", "30 ml", "100 ml", "2.5 oz"),
   W("This {F} {N} is made for {1} and sinks in without a greasy finish.",
     "Locks in moisture for up to {#} hours with a lightweight {G} formula.",
     "Apply to a clean face and neck morning and night.",
     "Dermatologist tested, non-comedogenic and free of parabens.",
     "Pairs well with a gentle cleanser and a serum.")},
  {"美妆护肤 > 面部护理 > 面霜乳液", "{B} {F}{N} {S} {2} 适合{1}",
   W("晚霜", "日霜", "保湿面霜", "水凝霜", "乳液", "滋润霜"),
   W("补水保湿", "维C", "玻尿酸", "神经酰胺", "清爽控油", "抗初老", "提亮肤色", "烟酰胺", "防晒SPF30"),
   W("50ml", "30ml", "100ml", "75g"),
   W("这款{F}{N}专为{1}设计，吸收快，不油腻。",
     "{G}配方，持续保湿长达{#}小时。",
     "早晚洁面后取适量均匀涂抹于面部及颈部。",
     "经皮肤科测试，不含酒精和防腐剂，温和不刺激。",
     "搭配洁面和精华使用效果更佳。")}}},

[C_SERUM] = {D_BEAUTY, B_SKIN, 1.0f, 35, {F_SKIN}, COMP(C_MOISTURIZER), {
  {"Beauty > Skin Care > Serums", "{B} {F} {N} for {1}, {S}",
   W("Face Serum", "Essence", "Ampoule", "Booster Serum", "Facial Oil"),
   W("Hyaluronic Acid", "Retinol", "Vitamin C", "Niacinamide", "Peptide", "Brightening", "Firming", "Repairing"),
   W("30 ml", "1 fl oz", "15 ml", "50 ml"),
   W("A concentrated {F} {N} that targets {1} with visible results in {#} days.",
     "Use two to three drops after cleansing and before moisturizer.",
     "The dropper bottle keeps the formula fresh and easy to dose.",
     "Suitable for daily use, layered under makeup or sunscreen.")},
  {"美妆护肤 > 面部护理 > 精华", "{B} {F}{N} {S} 适合{1}",
   W("精华液", "精华露", "安瓶精华", "肌底液", "精华油"),
   W("玻尿酸", "视黄醇", "维C", "烟酰胺", "多肽", "美白淡斑", "紧致", "修护"),
   W("30ml", "15ml", "50ml", "20ml"),
   W("高浓度{F}{N}，针对{1}，{#}天可见改善。",
     "洁面后取2-3滴，在面霜之前使用。",
     "滴管设计，用量精准，保持配方新鲜。",
     "可日常使用，妆前或防晒前均可叠加。")}}},

[C_CLEANSER] = {D_BEAUTY, B_SKIN, 0.9f, 16, {F_SKIN, F_SCENT}, COMP(C_MOISTURIZER, C_SERUM), {
  {"Beauty > Skin Care > Cleansers", "{B} {F} {N} for {1}, {2}, {S}",
   W("Foaming Cleanser", "Cleansing Gel", "Cleansing Balm", "Micellar Water", "Face Wash"),
   W("Gentle", "Deep Pore", "Exfoliating", "Amino Acid", "Salicylic Acid", "Hydrating", "Makeup-Removing"),
   W("150 ml", "5 fl oz", "200 ml", "100 ml"),
   W("A {F} {N} that removes dirt and makeup without stripping {1}.",
     "Massage onto damp skin for {#} seconds, then rinse with warm water.",
     "Soap-free and pH balanced for everyday use.",
     "Leaves skin feeling clean, soft and comfortable.")},
  {"美妆护肤 > 面部护理 > 洁面卸妆", "{B} {F}{N} {S} {2} {1}适用",
   W("洁面乳", "洗面奶", "卸妆膏", "卸妆水", "洁面啫喱"),
   W("温和", "深层清洁", "去角质", "氨基酸", "水杨酸", "补水", "控油"),
   W("150ml", "200ml", "100ml", "120g"),
   W("{F}{N}，有效清洁污垢和彩妆，洗后{1}也不紧绷。",
     "取适量于湿润面部打圈按摩{#}秒，再用温水冲净。",
     "无皂基，弱酸性配方，适合每天使用。",
     "洗后肌肤清爽柔软，干净舒适。")}}},

[C_SHAMPOO] = {D_BEAUTY, B_HAIR, 1.1f, 14, {F_HAIR, F_SCENT}, COMP(C_CONDITIONER), {
  {"Beauty > Hair Care > Shampoo", "{B} {F} {N} for {1}, {2}, {S}",
   W("Shampoo", "Clarifying Shampoo", "Moisture Shampoo", "Volumizing Shampoo", "Shampoo Bar"),
   W("Sulfate-Free", "Argan Oil", "Keratin", "Biotin", "Tea Tree", "Color-Safe", "Anti-Dandruff", "Silicone-Free"),
   W("300 ml", "10 fl oz", "500 ml", "16.9 fl oz", "2 x 250 ml"),
   W("This {F} {N} cleans gently and is made for {1}.",
     "Lather, leave on for {#} seconds and rinse; follow with conditioner.",
     "Free from harsh sulfates and safe for color-treated hair.",
     "Salon-quality results at home with a rich, creamy lather.")},
  {"美妆护肤 > 洗发护发 > 洗发水", "{B} {F}{N} {S} {2} {1}适用",
   W("洗发水", "洗发露", "控油洗发水", "蓬松洗发水", "洗发皂"),
   W("无硅油", "摩洛哥坚果油", "角蛋白", "生物素", "茶树", "护色", "去屑", "氨基酸"),
   W("300ml", "500ml", "750ml", "400ml"),
   W("这款{F}{N}温和清洁，专为{1}打造。",
     "揉出泡沫后停留{#}秒再冲洗，建议搭配护发素使用。",
     "不含刺激性硫酸盐，染烫发也可放心使用。",
     "泡沫绵密丰富，在家也能享受沙龙级护理。")}}},

[C_CONDITIONER] = {D_BEAUTY, B_HAIR, 0.9f, 14, {F_HAIR, F_SCENT}, COMP(C_SHAMPOO), {
  {"Beauty > Hair Care > Conditioner", "{B} {F} {N} for {1}, {2}, {S}",
   W("Conditioner", "Leave-In Conditioner", "Hair Mask", "Deep Conditioner", "Detangling Conditioner"),
   W("Argan Oil", "Keratin", "Coconut Milk", "Shea Butter", "Repairing", "Silicone-Free", "Color-Safe", "Smoothing"),
   W("300 ml", "10 fl oz", "500 ml", "200 ml"),
   W("A {F} {N} that detangles and softens {1}.",
     "Apply after shampoo, leave on for {#} minutes, then rinse.",
     "Tames frizz and adds shine without weighing hair down.",
     "Best used together with the matching shampoo.")},
  {"美妆护肤 > 洗发护发 > 护发素", "{B} {F}{N} {S} {2} {1}适用",
   W("护发素", "免洗护发素", "发膜", "深层护发素", "顺滑护发乳"),
   W("摩洛哥坚果油", "角蛋白", "椰奶", "乳木果", "修护", "无硅油", "护色", "柔顺"),
   W("300ml", "500ml", "200ml", "250g"),
   W("{F}{N}，改善{1}毛躁打结问题。",
     "洗发后涂抹于发梢，停留{#}分钟后冲净。",
     "抚平毛躁，增加光泽，不扁塌。",
     "与同系列洗发水搭配使用效果更好。")}}},

[C_PERFUME] = {D_BEAUTY, B_FRAGRANCE, 0.6f, 65, {F_SCENT}, COMP(C_CANDLE), {
  {"Beauty > Fragrance > Perfume", "{B} {F} {1} {N}, {S}",
   W("Eau de Parfum", "Eau de Toilette", "Perfume Oil", "Body Mist", "Cologne"),
   W("Floral", "Woody", "Fresh", "Oriental", "Musky", "Long-Lasting", "Travel Size"),
   W("50 ml", "100 ml", "1.7 fl oz", "10 ml", "30 ml"),
   W("A {F} {N} built around {1}, with a soft musky base.",
     "Top notes fade into a warm heart that lasts up to {#} hours.",
     "Spray on pulse points; a little is enough for the whole day.",
     "Comes in a weighted glass bottle, ready to gift.")},
  {"美妆护肤 > 香水香氛 > 香水", "{B} {1}{N} {F} {S}",
   W("淡香精", "淡香水", "香水油", "身体喷雾", "古龙水"),
   W("花香调", "木质调", "清新", "东方调", "麝香", "持久留香", "便携装"),
   W("50ml", "100ml", "30ml", "10ml"),
   W("{F}{N}，以{1}为主调，尾调是柔和的麝香。",
     "前调清新，中调温暖，留香长达{#}小时。",
     "喷于手腕、耳后等脉搏处，一整天都有淡淡香气。",
     "厚底玻璃瓶身，精美礼盒包装，送礼自用皆宜。")}}},

[C_LIPSTICK] = {D_BEAUTY, B_MAKEUP, 0.8f, 18, {F_COLOUR}, COMP(C_NAIL_POLISH), {
  {"Beauty > Makeup > Lipstick", "{B} {F} {N}, {1}, {S}",
   W("Lipstick", "Matte Lipstick", "Lip Gloss", "Lip Tint", "Liquid Lipstick"),
   W("Long-Wear", "Velvet Matte", "Satin", "Hydrating", "Transfer-Proof", "Vegan", "Creamy"),
   W("3.5 g", "0.12 oz", "4 ml", "2-Pack"),
   W("A {F} {N} in a rich {1} shade that flatters every skin tone.",
     "Stays put for up to {#} hours without drying lips.",
     "Enriched with vitamin E and jojoba oil.",
     "The slim bullet fits easily into any purse.")},
  {"美妆护肤 > 彩妆 > 口红", "{B} {F}{N} {1} {S}",
   W("口红", "哑光唇膏", "唇釉", "染唇液", "唇泥"),
   W("持久不脱色", "丝绒雾面", "缎光", "滋润", "不沾杯", "纯素", "奶油质地"),
   W("3.5g", "4ml", "2支装", "3g"),
   W("{F}{N}，饱满的{1}，显白百搭。",
     "持妆长达{#}小时，不拔干。",
     "添加维E与荷荷巴油，滋润双唇。",
     "小巧管身，方便放进包里随时补妆。")}}},

[C_NAIL_POLISH] = {D_BEAUTY, B_MAKEUP, 0.6f, 9, {F_COLOUR}, COMP(C_LIPSTICK), {
  {"Beauty > Makeup > Nail Polish", "{B} {F} {N}, {1}, {S}",
   W("Nail Polish", "Gel Polish", "Top Coat", "Nail Lacquer"),
   W("Quick-Dry", "Chip-Resistant", "Glossy", "Gel-Effect", "Non-Toxic", "Shimmer"),
   W("15 ml", "0.5 fl oz", "10 ml", "3-Pack"),
   W("A {F} {N} in {1} with full coverage in two coats.",
     "Dries in {#} seconds and resists chips for days.",
     "Free of formaldehyde, toluene and DBP.",
     "The wide brush makes even application easy.")},
  {"美妆护肤 > 彩妆 > 美甲", "{B} {F}{N} {1} {S}",
   W("指甲油", "甲油胶", "亮油", "护甲油"),
   W("速干", "持久不剥落", "高光泽", "免烤", "无毒配方", "闪粉"),
   W("15ml", "10ml", "3瓶装", "8ml"),
   W("{F}{N}，{1}色号，两层即可饱满显色。",
     "{#}秒速干，多日不易剥落。",
     "不含甲醛、甲苯等有害成分。",
     "宽刷头设计，新手也能涂得均匀。")}}},

/* Phones have no brand list: the device name (slot 0) is their brand. */
[C_SMARTPHONE] = {D_ELECTRONICS, B_NONE, 0.7f, 499, {F_DEVICE, F_COLOUR}, COMP(C_PHONE_CASE, C_CHARGER), {
  {"Electronics > Phones > Smartphones", "{1} {F} {N}, {S}, {2}",
   W("Smartphone", "5G Smartphone", "Unlocked Smartphone", "Cell Phone"),
   W("5G", "Dual SIM", "120Hz Display", "Triple Camera", "Long Battery Life", "Fast Charging"),
   W("128 GB", "256 GB", "512 GB", "64 GB"),
   W("The {1} brings a {F} experience with a {#}-megapixel main camera.",
     "A 6.5-inch OLED display and a 5000 mAh battery keep you going all day.",
     "Unlocked for all major carriers; dual SIM and eSIM supported.",
     "Includes a USB-C cable; case and charger sold separately.")},
  {"数码电子 > 手机通讯 > 手机", "{1} {F} {N} {S} {2}",
   W("智能手机", "5G手机", "全网通手机", "拍照手机"),
   W("5G", "双卡双待", "120Hz高刷屏", "三摄", "超长续航", "快充"),
   W("128GB", "256GB", "512GB", "8GB+256GB"),
   W("{1}带来{F}体验，主摄{#}00万像素。",
     "6.5英寸OLED屏幕，5000mAh大电池，续航一整天。",
     "全网通，支持双卡和eSIM。",
     "附赠USB-C数据线，手机壳和充电器需另购。")}}},

[C_PHONE_CASE] = {D_ELECTRONICS, B_PHONE_ACC, 0.9f, 15, {F_DEVICE, F_COLOUR}, COMP(C_CHARGER), {
  {"Electronics > Phones > Cases & Covers", "{B} {F} {N} for {1}, {2}",
   W("Phone Case", "Slim Case", "Wallet Case", "Rugged Case", "Clear Case"),
   W("Shockproof", "MagSafe Compatible", "Ultra-Thin", "Silicone", "Leather", "Kickstand", "Anti-Yellowing"),
   W("1 Pack", "2 Pack", "with Screen Protector"),
   W("Made to fit the {1} exactly, with precise cutouts for every port and button.",
     "A {F} design with raised edges that protect the screen and camera.",
     "Drop tested from {#} feet onto concrete.",
     "Wireless charging works right through the case.")},
  {"数码电子 > 手机配件 > 手机壳", "{B} {1}手机壳 {F}{N} {2}",
   W("手机壳", "超薄壳", "钱包式皮套", "防摔壳", "透明壳"),
   W("防摔", "支持MagSafe", "超薄", "液态硅胶", "真皮", "带支架", "不发黄"),
   W("1只装", "2只装", "送钢化膜"),
   W("专为{1}设计，开孔精准，按键灵敏。",
     "{F}设计，边框加高，保护屏幕和镜头。",
     "通过多次跌落测试，全方位防护。",
     "带壳也能无线充电。")}}},

[C_CHARGER] = {D_ELECTRONICS, B_PHONE_ACC, 0.8f, 20, {F_DEVICE}, COMP(C_PHONE_CASE), {
  {"Electronics > Phones > Chargers & Cables", "{B} {F} {N} for {1}, {S}",
   W("Wall Charger", "USB-C Cable", "Wireless Charger", "Car Charger", "Power Bank"),
   W("30W Fast", "65W GaN", "Braided", "Magnetic", "Dual Port", "Foldable"),
   W("1 m", "2 m", "3.3 ft", "2-Pack"),
   W("Charges the {1} to 50% in about {#} minutes.",
     "Built-in protection against overheating, overcurrent and short circuits.",
     "Compact enough for travel, with a foldable plug.",
     "Safety certified and works with most USB-C devices.")},
  {"数码电子 > 手机配件 > 充电器数据线", "{B} {F}{N} 适用{1} {S}",
   W("充电头", "USB-C数据线", "无线充电器", "车载充电器", "充电宝"),
   W("30W快充", "65W氮化镓", "编织线", "磁吸", "双口", "折叠插脚"),
   W("1米", "2米", "2条装", "1.5米"),
   W("约{#}分钟即可为{1}充至50%。",
     "多重安全保护，防过热、过流、短路。",
     "体积小巧，插脚可折叠，出差旅行方便携带。",
     "通过安全认证，兼容大多数USB-C设备。")}}},

[C_HEADPHONES] = {D_ELECTRONICS, B_AUDIO, 0.8f, 80, {F_COLOUR}, COMP(C_NONE), {
  {"Electronics > Audio > Headphones", "{B} {F} {N}, {1}",
   W("Wireless Earbuds", "Over-Ear Headphones", "Noise Cancelling Headphones", "Sports Earphones", "On-Ear Headphones"),
   W("Bluetooth 5.3", "Active Noise Cancelling", "Hi-Res Audio", "Waterproof", "Deep Bass", "Low Latency"),
   W("1 Pack", "with Charging Case", "with Travel Pouch"),
   W("{F} sound with rich detail and deep, punchy bass.",
     "Up to {#} hours of playback on a single charge.",
     "Soft memory foam cushions stay comfortable for long sessions.",
     "Built-in microphones for clear calls.")},
  {"数码电子 > 影音娱乐 > 耳机", "{B} {F}{N} {1}",
   W("真无线耳机", "头戴式耳机", "降噪耳机", "运动耳机", "蓝牙耳机"),
   W("蓝牙5.3", "主动降噪", "高解析音质", "防水", "重低音", "低延迟"),
   W("标准版", "带充电盒", "带收纳包"),
   W("{F}，音质细腻，低音浑厚有力。",
     "单次充电可连续播放{#}小时。",
     "记忆海绵耳罩，长时间佩戴也舒适。",
     "内置麦克风，通话清晰。")}}},

[C_CAMERA] = {D_ELECTRONICS, B_CAMERA, 0.4f, 650, {F_COLOUR}, COMP(C_MEMORY_CARD), {
  {"Electronics > Cameras > Digital Cameras", "{B} {F} {N} with {S}, {1}",
   W("Mirrorless Camera", "Compact Camera", "Instant Camera", "Action Camera", "Vlogging Camera"),
   W("4K", "24MP", "Image Stabilized", "Waterproof", "Wi-Fi", "Flip Screen"),
   W("18-55mm Lens", "Kit Lens", "32 GB Card", "Travel Bag"),
   W("A {F} {N} with a large sensor that shines in low light.",
     "Fast hybrid autofocus tracks faces and eyes.",
     "Wi-Fi and Bluetooth send photos straight to your phone.",
     "Memory card not included.")},
  {"数码电子 > 摄影摄像 > 数码相机", "{B} {F}{N} {S} {1}",
   W("微单相机", "卡片机", "拍立得", "运动相机", "Vlog相机"),
   W("4K", "2400万像素", "防抖", "防水", "WiFi", "翻转屏"),
   W("18-55mm套机", "单机身", "送32GB卡", "标准套装"),
   W("{F}{N}，大尺寸传感器，暗光也能拍清楚。",
     "混合对焦，快速锁定人脸和眼睛。",
     "支持WiFi和蓝牙，照片一键传到手机。",
     "不含存储卡，需另购。")}}},

[C_MEMORY_CARD] = {D_ELECTRONICS, B_MEMORY, 0.4f, 18, {F_NONE}, COMP(C_NONE), {
  {"Electronics > Cameras > Memory Cards", "{B} {F} {N}, {S}",
   W("microSD Card", "SD Card", "CFexpress Card", "microSDXC Card"),
   W("UHS-I", "V30", "A2", "U3", "High Endurance", "Extreme Speed"),
   W("64 GB", "128 GB", "256 GB", "512 GB", "1 TB"),
   W("Read speeds up to {#}0 MB/s for fast transfers.",
     "Rated {F} for smooth 4K video recording.",
     "Waterproof, temperature-proof, shockproof and X-ray-proof.",
     "Comes with an SD adapter.")},
  {"数码电子 > 摄影摄像 > 存储卡", "{B} {N} {S} {F}",
   W("TF卡", "SD卡", "CFexpress卡", "内存卡"),
   W("UHS-I", "V30", "A2", "U3", "高耐久", "高速"),
   W("64GB", "128GB", "256GB", "512GB", "1TB"),
   W("读取速度高达{#}0MB/s，传输更快。",
     "{F}规格，4K视频录制流畅不掉帧。",
     "防水、耐高低温、防震、防X光。",
     "附赠SD卡套。")}}},

[C_COFFEE_MAKER] = {D_KITCHEN, B_KITCHEN, 0.6f, 90, {F_COLOUR, F_STYLE}, COMP(C_COFFEE_BEANS, C_MUG), {
  {"Kitchen > Coffee & Tea > Coffee Makers", "{B} {F} {N}, {S}, {1}",
   W("Drip Coffee Maker", "Espresso Machine", "Pour-Over Set", "French Press", "Cold Brew Maker"),
   W("Programmable", "15-Bar", "Thermal Carafe", "Single-Serve", "Built-In Grinder", "Stainless"),
   W("12-Cup", "1.5 L", "34 oz", "4-Cup"),
   W("Brews a full pot in under {#} minutes.",
     "The {F} design keeps coffee hot without burning it.",
     "Removable parts are dishwasher safe.",
     "Use freshly ground beans for the best flavor.")},
  {"厨房用品 > 咖啡茶具 > 咖啡机", "{B} {F}{N} {S} {1}",
   W("美式咖啡机", "意式咖啡机", "手冲套装", "法压壶", "冷萃壶"),
   W("全自动", "15Bar", "保温壶", "胶囊式", "研磨一体", "不锈钢"),
   W("1.5L", "12杯", "1L", "600ml"),
   W("{#}分钟内即可煮好一壶咖啡。",
     "{F}设计，保温不焦苦。",
     "可拆卸部件可放入洗碗机清洗。",
     "建议搭配新鲜研磨的咖啡豆，风味更佳。")}}},

[C_MUG] = {D_KITCHEN, B_KITCHEN, 0.6f, 14, {F_COLOUR, F_STYLE}, COMP(C_COFFEE_BEANS, C_TEA), {
  {"Kitchen > Coffee & Tea > Mugs & Cups", "{B} {2} {F} {N}, {S}, {1}",
   W("Coffee Mug", "Travel Mug", "Tea Cup", "Espresso Cups", "Tumbler"),
   W("Ceramic", "Insulated", "Double-Wall", "Handmade", "Stoneware", "Microwave-Safe"),
   W("12 oz", "350 ml", "Set of 2", "Set of 4", "16 oz"),
   W("A {2} {N} with a comfortable handle and a smooth glaze.",
     "Keeps drinks warm for up to {#} hours.",
     "Dishwasher and microwave safe.",
     "A thoughtful gift for coffee and tea lovers.")},
  {"厨房用品 > 咖啡茶具 > 杯具", "{B} {2}风 {F}{N} {S} {1}",
   W("马克杯", "随行杯", "茶杯", "咖啡杯", "保温杯"),
   W("陶瓷", "保温", "双层", "手工", "粗陶", "可微波"),
   W("350ml", "450ml", "2只装", "4只装"),
   W("{2}风格{N}，手柄舒适，釉面光滑。",
     "保温长达{#}小时。",
     "可放入洗碗机和微波炉。",
     "送给爱喝咖啡和茶的朋友，很有心意。")}}},

[C_FRYING_PAN] = {D_KITCHEN, B_KITCHEN, 0.6f, 40, {F_COOKWARE}, COMP(C_UTENSILS, C_COOKBOOK), {
  {"Kitchen > Cookware > Pans & Skillets", "{B} {1} {N}, {F}, {S}",
   W("Frying Pan", "Skillet", "Wok", "Saute Pan", "Grill Pan"),
   W("Nonstick", "Induction Compatible", "Oven Safe", "PFOA-Free", "Pre-Seasoned"),
   W("10 inch", "12 inch", "28 cm", "8 inch", "2-Piece Set"),
   W("Heavy {1} construction heats evenly with no hot spots.",
     "{F} and safe in the oven up to {#}0 degrees.",
     "Works on gas, electric and induction cooktops.",
     "A stay-cool handle makes it easy to move from stove to table.")},
  {"厨房用品 > 锅具 > 煎锅炒锅", "{B} {1}{N} {F} {S}",
   W("平底锅", "煎锅", "炒锅", "深煎锅", "牛排锅"),
   W("不粘", "电磁炉通用", "可进烤箱", "无涂层", "预开锅"),
   W("26cm", "28cm", "30cm", "32cm", "两件套"),
   W("{1}锅身，受热均匀，没有局部过热。",
     "{F}，少油烹饪更健康。",
     "燃气灶、电陶炉、电磁炉都能用。",
     "防烫手柄，从灶台到餐桌都方便。")}}},

[C_UTENSILS] = {D_KITCHEN, B_KITCHEN, 0.5f, 18, {F_COOKWARE, F_COLOUR}, COMP(C_FRYING_PAN), {
  {"Kitchen > Cookware > Cooking Utensils", "{B} {1} {N}, {S}, {2}",
   W("Cooking Utensil Set", "Spatula Set", "Ladle", "Tongs", "Whisk"),
   W("Heat-Resistant", "Nonstick-Safe", "BPA-Free", "Dishwasher Safe", "Hanging"),
   W("5-Piece", "12-Piece", "3-Piece", "Single"),
   W("{1} utensils that will not scratch your pans.",
     "{F} up to {#}0 degrees.",
     "Comes with a holder to keep the counter tidy.",
     "Easy to clean by hand or in the dishwasher.")},
  {"厨房用品 > 锅具 > 厨具套装", "{B} {1}{N} {S} {2}",
   W("厨具套装", "锅铲套装", "汤勺", "食物夹", "打蛋器"),
   W("耐高温", "不伤锅", "无BPA", "可洗碗机清洗", "可挂式"),
   W("5件套", "12件套", "3件套", "单只"),
   W("{1}材质，不刮伤不粘锅涂层。",
     "{F}，使用放心。",
     "附收纳筒，台面整洁。",
     "手洗机洗都方便。")}}},

[C_SHEETS] = {D_HOME, B_HOME, 0.7f, 45, {F_FABRIC, F_COLOUR}, COMP(C_PILLOW), {
  {"Home > Bedding > Sheet Sets", "{B} {F} {1} {N}, {S}, {2}",
   W("Sheet Set", "Duvet Cover Set", "Fitted Sheet", "Pillowcase Set"),
   W("400 Thread Count", "Breathable", "Cooling", "Wrinkle-Resistant", "Deep Pocket", "Hotel Quality"),
   W("Queen", "King", "Full", "Twin", "California King"),
   W("Woven from {1} that gets softer with every wash.",
     "{F} fabric keeps you comfortable all night.",
     "Deep pockets fit mattresses up to {#} inches thick.",
     "Machine wash cold, tumble dry low.")},
  {"家居家纺 > 床上用品 > 床品套件", "{B} {1}{N} {F} {S} {2}",
   W("四件套", "被套", "床笠", "枕套"),
   W("400支", "透气", "凉感", "抗皱", "加深床笠", "酒店级"),
   W("1.5m床", "1.8m床", "2.0m床", "1.2m床"),
   W("{1}面料，越洗越柔软。",
     "{F}，整夜舒适好眠。",
     "床笠加深设计，适合{#}厘米以内的床垫。",
     "可机洗，冷水洗涤，低温烘干。")}}},

[C_PILLOW] = {D_HOME, B_HOME, 0.5f, 30, {F_FABRIC}, COMP(C_SHEETS), {
  {"Home > Bedding > Pillows", "{B} {F} {N} with {1} Cover, {S}",
   W("Bed Pillow", "Memory Foam Pillow", "Down Alternative Pillow", "Body Pillow", "Neck Pillow"),
   W("Adjustable", "Cooling Gel", "Hypoallergenic", "Side Sleeper", "Contour"),
   W("Standard", "Queen", "King", "Set of 2"),
   W("A {F} {N} with a breathable {1} cover.",
     "Supports the neck for side, back and stomach sleepers.",
     "The removable cover is machine washable.",
     "Expands to full shape within {#} hours of unboxing.")},
  {"家居家纺 > 床上用品 > 枕头", "{B} {F}{N} {1}枕套 {S}",
   W("枕头", "记忆棉枕", "羽丝绒枕", "长抱枕", "颈椎枕"),
   W("可调节高度", "凉感凝胶", "防螨抗菌", "侧睡", "人体工学"),
   W("48x74cm", "一对装", "单只装", "40x60cm"),
   W("{F}{N}，透气{1}枕套。",
     "贴合颈椎，仰睡侧睡都适合。",
     "枕套可拆洗。",
     "拆封后{#}小时内完全回弹。")}}},

[C_CANDLE] = {D_HOME, B_HOME, 0.6f, 22, {F_SCENT, F_STYLE}, COMP(C_NONE), {
  {"Home > Decor > Candles", "{B} {1} {F} {N}, {S}",
   W("Scented Candle", "Jar Candle", "Candle Set", "Reed Diffuser", "Tealights"),
   W("Soy Wax", "Wood Wick", "Long Burning", "Hand-Poured", "Aromatherapy"),
   W("8 oz", "14 oz", "3-Wick", "Set of 3", "200 g"),
   W("Hand-poured with a warm {1} scent that fills the room.",
     "Burns cleanly for up to {#} hours.",
     "The {2} jar looks lovely on a shelf long after the wax is gone.",
     "Trim the wick before each use for an even burn.")},
  {"家居家纺 > 家居装饰 > 香薰蜡烛", "{B} {1}{F}{N} {S} {2}风",
   W("香薰蜡烛", "玻璃杯蜡烛", "蜡烛礼盒", "无火香薰", "小蜡烛"),
   W("大豆蜡", "木芯", "长燃", "手工", "精油"),
   W("200g", "400g", "三芯", "3只装"),
   W("手工灌制，温暖的{1}，满室生香。",
     "可燃烧约{#}小时，无黑烟。",
     "{2}风格杯身，用完还能当收纳。",
     "每次点燃前修剪烛芯，燃烧更均匀。")}}},

[C_YOGA_MAT] = {D_SPORTS, B_SPORTS, 0.5f, 30, {F_COLOUR}, COMP(C_WATER_BOTTLE), {
  {"Sports > Fitness > Yoga Mats", "{B} {F} {N}, {S}, {1}",
   W("Yoga Mat", "Exercise Mat", "Travel Yoga Mat", "Pilates Mat"),
   W("Non-Slip", "Extra Thick", "TPE", "Natural Rubber", "Cork", "Eco-Friendly"),
   W("6 mm", "1/4 inch", "10 mm", "4 mm"),
   W("A {F} {N} that grips on both sides.",
     "Cushions knees and joints through {#} minutes of practice.",
     "Comes with a carrying strap.",
     "Wipe clean with mild soap and water.")},
  {"运动户外 > 健身 > 瑜伽垫", "{B} {F}{N} {S} {1}",
   W("瑜伽垫", "健身垫", "便携瑜伽垫", "普拉提垫"),
   W("防滑", "加厚", "TPE", "天然橡胶", "软木", "环保"),
   W("6mm", "8mm", "10mm", "4mm"),
   W("{F}{N}，双面防滑。",
     "练习{#}分钟，膝盖和关节也不痛。",
     "附送背带，携带方便。",
     "用温和皂液擦拭即可清洁。")}}},

[C_WATER_BOTTLE] = {D_SPORTS, B_SPORTS, 0.5f, 20, {F_COLOUR}, COMP(C_NONE), {
  {"Sports > Fitness > Water Bottles", "{B} {F} {N}, {S}, {1}",
   W("Water Bottle", "Insulated Bottle", "Sports Bottle", "Shaker Bottle"),
   W("Insulated", "Leakproof", "BPA-Free", "Stainless Steel", "Straw Lid", "Wide Mouth"),
   W("32 oz", "750 ml", "1 L", "500 ml", "24 oz"),
   W("Keeps water cold for {#} hours.",
     "A {F} lid that will not leak in your bag.",
     "Fits most cup holders.",
     "Hand wash recommended.")},
  {"运动户外 > 健身 > 运动水杯", "{B} {F}{N} {S} {1}",
   W("运动水壶", "保温杯", "吸管杯", "摇摇杯"),
   W("保温", "防漏", "无BPA", "不锈钢", "吸管盖", "大口径"),
   W("750ml", "1L", "500ml", "1.5L"),
   W("保冷可达{#}小时。",
     "{F}杯盖，放包里也不漏水。",
     "适配大多数车载杯架。",
     "建议手洗。")}}},

[C_RUNNING_SHOES] = {D_SPORTS, B_SPORTS, 0.6f, 110, {F_COLOUR}, COMP(C_SOCKS), {
  {"Sports > Running > Running Shoes", "{B} {F} {N}, {1}, {S}",
   W("Running Shoes", "Trail Running Shoes", "Road Running Shoes", "Racing Flats", "Walking Shoes"),
   W("Lightweight", "Cushioned", "Breathable Mesh", "Carbon Plate", "Wide Fit", "Waterproof"),
   W("US 8", "US 9", "US 10", "US 7", "US 11"),
   W("{F} {N} with a responsive foam midsole.",
     "Each shoe weighs only {#}0 grams.",
     "A grippy rubber outsole handles wet roads.",
     "Runs true to size.")},
  {"运动户外 > 跑步 > 跑鞋", "{B} {F}{N} {1} {S}",
   W("跑步鞋", "越野跑鞋", "公路跑鞋", "竞速跑鞋", "健步鞋"),
   W("轻量", "缓震", "透气网面", "碳板", "宽楦", "防水"),
   W("40码", "41码", "42码", "39码", "43码"),
   W("{F}{N}，回弹中底。",
     "单只仅重{#}0克。",
     "耐磨橡胶大底，雨天路面也抓地。",
     "尺码标准，按平时尺码购买即可。")}}},

[C_SOCKS] = {D_SPORTS, B_SPORTS, 0.4f, 12, {F_FABRIC, F_SIZE}, COMP(C_NONE), {
  {"Sports > Running > Running Socks", "{B} {F} {1} {N}, {S}, Size {2}",
   W("Running Socks", "Ankle Socks", "Crew Socks", "Compression Socks"),
   W("Cushioned", "Moisture-Wicking", "Blister-Resistant", "Seamless", "Arch Support"),
   W("3 Pairs", "6 Pairs", "1 Pair", "12 Pairs"),
   W("Knit from {1} that stays dry over long miles.",
     "{F} zones protect heels and toes.",
     "This listing is for size {2}.",
     "Machine washable; holds its shape after {#} washes.")},
  {"运动户外 > 跑步 > 运动袜", "{B} {F}{1}{N} {S} {2}",
   W("跑步袜", "船袜", "中筒袜", "压缩袜"),
   W("毛圈加厚", "速干吸汗", "防磨脚", "无缝", "足弓支撑"),
   W("3双装", "6双装", "1双装", "12双装"),
   W("{1}材质，长距离跑步也保持干爽。",
     "{F}设计，保护脚跟和脚趾。",
     "尺码{2}。",
     "可机洗，洗{#}次也不变形。")}}},

[C_BUILDING_SET] = {D_TOYS, B_TOYS, 0.5f, 35, {F_AGE}, COMP(C_NONE), {
  {"Toys > Building > Building Sets", "{B} {F} {N}, {S}, {1}",
   W("Building Set", "Brick Kit", "Castle Building Kit", "Space Station Set", "Magnetic Tiles"),
   W("STEM", "Creative", "Compatible Bricks", "Motorized", "Glow-in-the-Dark"),
   W("250 Pieces", "500 Pieces", "1000 Pieces", "120 Pieces"),
   W("A {F} {N} recommended for {1}.",
     "Build it in about {#} hours, then rebuild it into two other models.",
     "Bricks are made from safe, durable ABS plastic.",
     "Step-by-step illustrated instructions included.")},
  {"玩具乐器 > 积木拼插 > 积木", "{B} {F}{N} {S} {1}",
   W("积木", "拼装积木", "城堡积木", "太空站积木", "磁力片"),
   W("益智", "创意", "兼容大颗粒", "电动", "夜光"),
   W("250颗粒", "500颗粒", "1000颗粒", "120颗粒"),
   W("{F}{N}，适合{1}。",
     "约{#}小时拼完，还能改拼成另外两种造型。",
     "采用安全耐用的ABS材料。",
     "附图文步骤说明书。")}}},

[C_BOARD_GAME] = {D_TOYS, B_TOYS, 0.5f, 30, {F_AGE}, COMP(C_NONE), {
  {"Toys > Games > Board Games", "{B} {F} {N} for {S}, {1}",
   W("Board Game", "Card Game", "Strategy Game", "Party Game", "Cooperative Game"),
   W("Family", "Award-Winning", "Quick-Play", "Educational", "Expansion"),
   W("2-4 Players", "2-6 Players", "3-8 Players", "1-5 Players"),
   W("A {F} {N} for {1} that plays in about {#} minutes.",
     "Easy to learn, with enough strategy to keep adults interested.",
     "Includes a game board, cards, tokens and a rulebook.",
     "Perfect for game night.")},
  {"玩具乐器 > 桌游棋牌 > 桌游", "{B} {F}{N} {S} {1}",
   W("桌游", "卡牌游戏", "策略桌游", "聚会游戏", "合作游戏"),
   W("家庭", "获奖", "快节奏", "益智", "扩展包"),
   W("2-4人", "2-6人", "3-8人", "1-5人"),
   W("{F}{N}，适合{1}，一局约{#}分钟。",
     "规则简单易学，策略性足，大人也爱玩。",
     "内含游戏版图、卡牌、标记物和规则书。",
     "家庭聚会必备。")}}},

/* Books: the features are titles, the brands publishers, and a complement is the next book. */
[C_NOVEL] = {D_BOOKS, B_BOOKS, 0.8f, 15, {F_GENRE}, COMP(C_NOVEL), {
  {"Books > Fiction > Novels", "{F}: A {1} Novel, {N}, {S}",
   W("Paperback", "Hardcover", "Ebook", "Audiobook", "Large Print"),
   W("The Silent Harbor", "Glass Lanterns", "Midnight Orchard", "The Last Cartographer", "Salt and Iron",
     "A Winter of Crows", "Paper Moons", "The Quiet Tide", "Ember Road", "Northern Lights"),
   W("320 Pages", "416 Pages", "288 Pages", "Book 2 of 3"),
   W("A gripping {1} novel from {B} that readers finish in a weekend.",
     "The first printing sold out in {#} days.",
     "Perfect for book clubs, with a discussion guide at the end.",
     "From an award-winning author of {1} fiction.")},
  {"图书音像 > 小说 > 长篇小说", "{F} {1}小说 {N} {S}",
   W("平装", "精装", "电子书", "有声书", "大字版"),
   W("《寂静港湾》", "《玻璃灯笼》", "《午夜果园》", "《最后的制图师》", "《盐与铁》",
     "《乌鸦之冬》", "《纸月亮》", "《静潮》", "《余烬之路》", "《北方之光》"),
   W("320页", "416页", "288页", "系列第二部"),
   W("{B}出版，一部扣人心弦的{1}小说，周末就能一口气读完。",
     "首印{#}天售罄。",
     "适合读书会，书末附讨论指南。",
     "获奖作家的{1}力作。")}}},

[C_COOKBOOK] = {D_BOOKS, B_BOOKS, 0.5f, 25, {F_DIET}, COMP(C_FRYING_PAN), {
  {"Books > Nonfiction > Cookbooks", "{F}: {#}0 {1} Recipes for Every Day, {N}",
   W("Paperback", "Hardcover", "Spiral-Bound", "Ebook"),
   W("Simply Weeknight", "The Green Table", "Sunday Kitchen", "One Pan Wonders", "Fresh & Easy",
     "Home Cooking Made Simple"),
   W("240 Pages", "320 Pages", "192 Pages"),
   W("{#}0 {1} recipes from {B}, each with a full-page photo.",
     "Most dishes take under {#} minutes.",
     "Clear shopping lists and prep tips for busy cooks.",
     "Includes nutrition facts for every recipe.")},
  {"图书音像 > 生活 > 菜谱", "{F} {1}食谱{#}0道 {N}",
   W("平装", "精装", "线圈装", "电子书"),
   W("《快手晚餐》", "《绿色餐桌》", "《周日厨房》", "《一锅出》", "《轻松做好菜》", "《家常菜》"),
   W("240页", "320页", "192页"),
   W("{B}出版，收录{#}0道{1}食谱，每道配整页彩图。",
     "大部分菜品{#}分钟内完成。",
     "附采购清单和备菜技巧，忙碌也能做饭。",
     "每道菜附营养成分表。")}}},

[C_PICTURE_BOOK] = {D_BOOKS, B_BOOKS, 0.4f, 10, {F_AGE}, COMP(C_BUILDING_SET), {
  {"Books > Children > Picture Books", "{F} ({N}, {1}), {S}",
   W("Board Book", "Hardcover", "Paperback", "Lift-the-Flap Book"),
   W("The Little Cloud", "Goodnight, Lighthouse", "Bear Learns to Share", "Where Do Stars Sleep?",
     "The Busy Garden", "Ten Tiny Trucks"),
   W("32 Pages", "24 Pages", "40 Pages"),
   W("A warm bedtime story from {B} for {1}.",
     "Bright illustrations on every page and only {#} words per spread.",
     "Sturdy pages stand up to little hands.",
     "Made to be read aloud together.")},
  {"图书音像 > 童书 > 绘本", "{F} {N} {1} {S}",
   W("纸板书", "精装绘本", "平装绘本", "翻翻书"),
   W("《小云朵》", "《晚安，灯塔》", "《小熊学分享》", "《星星睡在哪里》", "《忙碌的花园》", "《十辆小卡车》"),
   W("32页", "24页", "40页"),
   W("{B}出品的温馨睡前故事，适合{1}。",
     "每页都有明亮插画，每个跨页只有{#}个字。",
     "页面厚实，不怕小手撕。",
     "适合亲子共读。")}}},

[C_DRESS] = {D_FASHION, B_FASHION, 0.8f, 55, {F_COLOUR, F_SIZE}, COMP(C_HANDBAG), {
  {"Fashion > Women > Dresses", "{B} Women's {F} {N}, {1}, Size {2}",
   W("Midi Dress", "Maxi Dress", "Wrap Dress", "Shirt Dress", "Sundress"),
   W("Floral", "Linen", "Casual", "Elegant", "Sleeveless", "Long Sleeve", "Pleated"),
   W("Regular", "Petite", "Tall"),
   W("A {F} {N} in {1} that works from office to dinner.",
     "Fits true to size {2}; see the size chart for measurements.",
     "Hidden side pockets and a flattering waist.",
     "Soft, breathable fabric that is machine washable.")},
  {"服饰鞋包 > 女装 > 连衣裙", "{B} {F}{N} {1} {2}",
   W("中长款连衣裙", "长裙", "裹身裙", "衬衫裙", "吊带裙"),
   W("碎花", "亚麻", "休闲", "气质", "无袖", "长袖", "百褶"),
   W("常规款", "小个子", "高个子"),
   W("{F}{N}，{1}，通勤约会都合适。",
     "版型标准，{2}，详见尺码表。",
     "隐藏式侧袋，收腰显瘦。",
     "面料柔软亲肤，可机洗。")}}},

[C_TSHIRT] = {D_FASHION, B_FASHION, 0.7f, 20, {F_COLOUR, F_SIZE}, COMP(C_NONE), {
  {"Fashion > Men > T-Shirts", "{B} Men's {F} {N}, {1}, Size {2}, {S}",
   W("T-Shirt", "Crew Neck Tee", "V-Neck Tee", "Graphic Tee", "Pocket Tee"),
   W("Cotton", "Slim Fit", "Relaxed Fit", "Heavyweight", "Quick-Dry", "Organic"),
   W("1-Pack", "3-Pack", "5-Pack"),
   W("A {F} {N} in {1} that keeps its shape wash after wash.",
     "Pre-shrunk and tag-free for comfort.",
     "Size {2} runs true to size.",
     "Pairs with jeans, shorts or a blazer.")},
  {"服饰鞋包 > 男装 > T恤", "{B} 男士{F}{N} {1} {2} {S}",
   W("短袖T恤", "圆领T恤", "V领T恤", "印花T恤", "口袋T恤"),
   W("纯棉", "修身", "宽松", "重磅", "速干", "有机棉"),
   W("1件装", "3件装", "5件装"),
   W("{F}{N}，{1}，多次洗涤不变形。",
     "预缩处理，无领标更舒适。",
     "{2}尺码标准。",
     "搭配牛仔裤、短裤或西装外套都好看。")}}},

[C_HANDBAG] = {D_FASHION, B_FASHION, 0.6f, 70, {F_COLOUR, F_STYLE}, COMP(C_NONE), {
  {"Fashion > Accessories > Handbags", "{B} {2} {F} {N}, {1}",
   W("Tote Bag", "Crossbody Bag", "Shoulder Bag", "Clutch", "Backpack Purse"),
   W("Leather", "Vegan Leather", "Canvas", "Quilted", "Woven", "Mini"),
   W("Small", "Medium", "Large"),
   W("A {2} {N} in {1} with room for a tablet.",
     "{F} exterior with a zip top and {#} inner pockets.",
     "An adjustable strap for shoulder or crossbody wear.",
     "Comes with a dust bag.")},
  {"服饰鞋包 > 配饰 > 女包", "{B} {2}风{F}{N} {1}",
   W("托特包", "斜挎包", "单肩包", "手拿包", "双肩包"),
   W("真皮", "纯素皮革", "帆布", "菱格", "编织", "迷你"),
   W("小号", "中号", "大号"),
   W("{2}风格{N}，{1}，能放下平板电脑。",
     "{F}材质，拉链开口，内有{#}个隔层。",
     "肩带可调节，单肩斜挎两用。",
     "附赠防尘袋。")}}},

[C_COFFEE_BEANS] = {D_GROCERY, B_GROCERY, 0.8f, 14, {F_FLAVOR, F_DIET}, COMP(C_MUG), {
  {"Grocery > Coffee > Coffee Beans", "{B} {F} {N}, {1}, {S}",
   W("Whole Bean Coffee", "Ground Coffee", "Espresso Beans", "Coffee Pods", "Cold Brew Coffee"),
   W("Medium Roast", "Dark Roast", "Light Roast", "Single Origin", "Decaf", "Fair Trade"),
   W("12 oz", "1 lb", "2 lb", "250 g", "1 kg"),
   W("A {F} with smooth notes of {1} and a clean finish.",
     "Certified {2} and roasted in small batches.",
     "Roasted within {#} days of shipping.",
     "Great for drip, French press and espresso.")},
  {"食品饮料 > 咖啡 > 咖啡豆", "{B} {F}{N} {1}风味 {S}",
   W("咖啡豆", "咖啡粉", "意式拼配豆", "咖啡胶囊", "冷萃咖啡"),
   W("中度烘焙", "深度烘焙", "浅度烘焙", "单一产地", "低因", "公平贸易"),
   W("250g", "500g", "1kg", "454g"),
   W("{F}，带有{1}风味，口感顺滑，回甘干净。",
     "通过{2}认证，小批量烘焙。",
     "发货前{#}天内新鲜烘焙。",
     "适合滴滤、法压和意式。")}}},

[C_TEA] = {D_GROCERY, B_GROCERY, 0.5f, 12, {F_FLAVOR}, COMP(C_MUG), {
  {"Grocery > Tea > Loose Leaf Tea", "{B} {1} {F} {N}, {S}",
   W("Loose Leaf Tea", "Tea Bags", "Tea Sampler", "Herbal Tea"),
   W("Black Tea", "Oolong", "Jasmine Green", "Earl Grey", "Chamomile", "Rooibos"),
   W("100 g", "20 Tea Bags", "50 Tea Bags", "4 oz"),
   W("{F} blended with natural {1} for a mellow cup.",
     "Steep for {#} minutes in water just off the boil.",
     "Packed in a resealable tin to keep the leaves fresh.",
     "Enjoy it hot or over ice.")},
  {"食品饮料 > 茶 > 茶叶", "{B} {1}味{F} {N} {S}",
   W("散装茶叶", "袋泡茶", "茶叶礼盒", "花草茶"),
   W("红茶", "乌龙茶", "茉莉花茶", "伯爵红茶", "洋甘菊", "路易波士"),
   W("100g", "20包", "50包", "250g"),
   W("{F}搭配天然{1}，茶汤醇和。",
     "用刚沸腾的水冲泡{#}分钟。",
     "密封罐装，保持茶叶新鲜。",
     "热饮冷泡皆宜。")}}},

[C_CHOCOLATE] = {D_GROCERY, B_GROCERY, 0.6f, 6, {F_FLAVOR, F_DIET}, COMP(C_NONE), {
  {"Grocery > Snacks > Chocolate", "{B} {F} {N} with {1}, {2}, {S}",
   W("Chocolate Bar", "Truffles", "Chocolate Gift Box", "Chocolate Bites"),
   W("70% Dark", "Milk", "White", "85% Cacao", "Single Origin", "Ruby"),
   W("100 g", "3.5 oz", "12 Bars", "24 Pieces"),
   W("{F} chocolate with {1}, made from ethically sourced cacao.",
     "{2} with nothing artificial.",
     "Individually wrapped and great for sharing.",
     "Store in a cool, dry place.")},
  {"食品饮料 > 休闲零食 > 巧克力", "{B} {F}{1}{N} {2} {S}",
   W("巧克力排块", "松露巧克力", "巧克力礼盒", "巧克力豆"),
   W("70%黑", "牛奶", "白", "85%可可", "单一产地", "红宝石"),
   W("100g", "12块装", "24粒装", "200g"),
   W("{F}巧克力搭配{1}，可可豆来源可追溯。",
     "{2}，不含人工添加。",
     "独立包装，方便分享。",
     "请存放于阴凉干燥处。")}}},

[C_DOG_FOOD] = {D_PETS, B_PETS, 0.6f, 40, {F_DOG, F_DIET}, COMP(C_DOG_TOY), {
  {"Pets > Dogs > Dog Food", "{B} {F} {N} for {1}, {S}",
   W("Dry Dog Food", "Wet Dog Food", "Kibble", "Dog Treats"),
   W("Chicken & Rice", "Salmon & Sweet Potato", "Lamb", "Beef", "Turkey"),
   W("5 lb", "15 lb", "30 lb", "2 kg", "12 Cans"),
   W("A {F} recipe made for {1}, with real meat as the first ingredient.",
     "A {2} formula with no artificial colors or flavors.",
     "Supports healthy digestion with {#}% protein.",
     "Feed according to the chart on the bag.")},
  {"宠物用品 > 狗狗 > 狗粮", "{B} {F}{N} {1}适用 {S}",
   W("狗粮", "湿粮罐头", "冻干狗粮", "狗零食"),
   W("鸡肉糙米", "三文鱼", "羊肉", "牛肉", "火鸡肉"),
   W("2kg", "5kg", "10kg", "12罐"),
   W("{F}配方，专为{1}设计，第一成分为真肉。",
     "{2}配方，无人工色素和香精。",
     "粗蛋白含量{#}%，呵护肠胃健康。",
     "请按包装上的喂食表喂养。")}}},

[C_DOG_TOY] = {D_PETS, B_PETS, 0.5f, 10, {F_DOG, F_COLOUR}, COMP(C_DOG_FOOD), {
  {"Pets > Dogs > Dog Toys", "{B} {F} {N} for {1}, {2}, {S}",
   W("Chew Toy", "Rope Toy", "Squeaky Toy", "Fetch Ball", "Puzzle Feeder"),
   W("Durable", "Squeaky", "Interactive", "Natural Rubber", "Tough Chewer"),
   W("1 Pack", "3 Pack", "Small", "Large"),
   W("A {F} {N} sized for {1}.",
     "Survived {#} hours of testing with strong chewers.",
     "The bright {2} color is easy to find in the grass.",
     "Made from non-toxic materials.")},
  {"宠物用品 > 狗狗 > 狗玩具", "{B} {F}{N} {1}适用 {2} {S}",
   W("磨牙玩具", "绳结玩具", "发声玩具", "飞盘球", "漏食玩具"),
   W("耐咬", "发声", "互动", "天然橡胶", "大力咬合"),
   W("单只装", "3只装", "小号", "大号"),
   W("{F}{N}，尺寸适合{1}。",
     "经受{#}小时强力啃咬测试。",
     "{2}颜色鲜艳，草地上也好找。",
     "无毒材质，放心玩耍。")}}},
};

const synth_family synth_fams[SYNTH_NFAM] = {
[F_COLOUR] = {{W("Black", "White", "Silver", "Navy Blue", "Rose Gold", "Sage Green", "Burgundy", "Beige", "Sky Blue", "Coral"),
               W("黑色", "白色", "银色", "藏青色", "玫瑰金", "鼠尾草绿", "酒红色", "米色", "天蓝色", "珊瑚色")},
              {W("Color: {V}.", "The {V} finish matches almost anything.", "Shown here in {V}; other colors are sold separately."),
               W("颜色：{V}。", "{V}百搭耐看。", "图片为{V}，其他颜色请见店铺。")}},
[F_SCENT] = {{W("Lavender", "Vanilla", "Citrus", "Rose", "Sandalwood", "Coconut", "Green Tea", "Unscented"),
              W("薰衣草香", "香草香", "柑橘香", "玫瑰香", "檀香", "椰子香", "绿茶香", "无香")},
             {W("Scent: {V}.", "Fragrance profile: {V}.", "Customers keep coming back for the {V} version."),
              W("香型：{V}。", "{V}款，淡雅不刺鼻。", "{V}款回购率很高。")}},
[F_SKIN] = {{W("Dry Skin", "Oily Skin", "Combination Skin", "Sensitive Skin", "Mature Skin"),
             W("干性肌肤", "油性肌肤", "混合性肌肤", "敏感肌", "熟龄肌")},
            {W("Best for {V}.", "Tested on {V} with no irritation.", "Recommended for {V}."),
             W("适合{V}。", "经{V}人群测试，无刺激。", "推荐{V}使用。")}},
[F_HAIR] = {{W("Dry Hair", "Curly Hair", "Fine Hair", "Color-Treated Hair", "Oily Scalp"),
             W("干枯发质", "自然卷发", "细软发质", "染烫发质", "油性头皮")},
            {W("Made for {V}.", "Our stylists recommend it for {V}.", "Hair type: {V}."),
             W("适合{V}。", "发型师推荐{V}使用。", "适用发质：{V}。")}},
[F_FABRIC] = {{W("Cotton", "Linen", "Bamboo", "Silk", "Microfiber", "Merino Wool"),
               W("纯棉", "亚麻", "竹纤维", "真丝", "超细纤维", "美利奴羊毛")},
              {W("Material: 100% {V}.", "{V} feels soft and breathable against the skin.", "Made with responsibly sourced {V}."),
               W("材质：{V}。", "{V}亲肤透气。", "精选{V}面料。")}},
[F_COOKWARE] = {{W("Stainless Steel", "Cast Iron", "Ceramic", "Hard-Anodized Aluminum", "Carbon Steel", "Copper"),
                 W("不锈钢", "铸铁", "陶瓷", "硬质氧化铝", "碳钢", "纯铜")},
                {W("Material: {V}.", "{V} construction built to last for years.", "Why {V}? It heats evenly and cleans up fast."),
                 W("材质：{V}。", "{V}材质，经久耐用。", "选用{V}，导热均匀，易清洗。")}},
[F_DEVICE] = {{W("Nova X12", "Nova X12 Pro", "Orion S5", "Kestrel 8", "Lumo A54", "Zenith Fold 3"),
               W("Nova X12", "Nova X12 Pro", "Orion S5", "Kestrel 8", "Lumo A54", "Zenith Fold 3")},
              {W("Model: {V}.", "Made for the {V} lineup.", "Works with the {V} ecosystem."),
               W("型号：{V}。", "{V}系列。", "适配{V}生态。")}},
[F_FLAVOR] = {{W("Hazelnut", "Caramel", "Vanilla", "Mint", "Berry", "Sea Salt", "Honey"),
               W("榛子", "焦糖", "香草", "薄荷", "莓果", "海盐", "蜂蜜")},
              {W("Flavor: {V}.", "The {V} flavor is a customer favorite.", "Notes of {V} in every bite and sip."),
               W("口味：{V}。", "{V}口味，回购率最高。", "每一口都有{V}的香气。")}},
[F_AGE] = {{W("Ages 3+", "Ages 6+", "Ages 8+", "Ages 12+", "Adults"),
            W("3岁以上", "6岁以上", "8岁以上", "12岁以上", "成人")},
           {W("Recommended age: {V}.", "Designed for {V}.", "Age range: {V}."),
            W("适用年龄：{V}。", "推荐{V}使用。", "年龄段：{V}。")}},
[F_STYLE] = {{W("Minimalist", "Vintage", "Bohemian", "Classic", "Modern", "Rustic"),
              W("极简", "复古", "波西米亚", "经典", "现代", "田园")},
             {W("Style: {V}.", "A {V} look that fits any room.", "{V} design, made to be noticed."),
              W("风格：{V}。", "{V}风格，百搭不挑。", "{V}设计，颜值在线。")}},
[F_DIET] = {{W("Organic", "Vegan", "Gluten-Free", "Keto", "Sugar-Free", "Non-GMO"),
             W("有机", "纯素", "无麸质", "生酮", "无糖", "非转基因")},
            {W("Certified {V}.", "A good fit for a {V} kitchen.", "{V} and proud of it."),
             W("{V}认证。", "适合{V}饮食。", "坚持{V}标准。")}},
[F_SIZE] = {{W("XS", "S", "M", "L", "XL", "XXL"),
             W("XS码", "S码", "M码", "L码", "XL码", "XXL码")},
            {W("Size: {V}.", "Available in {V}; check the size chart.", "This listing is for size {V}."),
             W("尺码：{V}。", "本链接为{V}。", "请参考尺码表选择，当前为{V}。")}},
[F_GENRE] = {{W("Mystery", "Thriller", "Romance", "Science Fiction", "Fantasy", "Historical Fiction"),
              W("悬疑", "惊悚", "爱情", "科幻", "奇幻", "历史")},
             {W("Genre: {V}.", "Fans of {V} will not put it down.", "One of this year's best {V} releases."),
              W("类型：{V}。", "{V}迷一定会爱不释手。", "年度最佳{V}作品之一。")}},
[F_DOG] = {{W("Puppies", "Small Breeds", "Medium Breeds", "Large Breeds", "Senior Dogs"),
            W("幼犬", "小型犬", "中型犬", "大型犬", "老年犬")},
           {W("Made for {V}.", "Sized and balanced for {V}.", "Vets recommend it for {V}."),
            W("适用：{V}。", "专为{V}设计。", "宠物医生推荐{V}使用。")}},
};

const synth_words synth_brands[SYNTH_NBRAND_GROUPS][SYNTH_NLANG] = {
[B_SKIN] = {W("Lumiere", "Dermaly", "Aquava", "Veridia", "Solenne", "Purelle", "Hanami Lab", "Cedar & Salt"),
            W("露米耶", "德玛莉", "AQUAVA", "薇瑞迪", "素伦", "珀芮", "花见研究所", "雪松与盐")},
[B_HAIR] = {W("Silkroot", "Maneo", "Luxe Loc", "Oak & Olive", "Verde Botanics", "Curlwell"),
            W("丝根", "曼诺", "LUXE LOC", "橡橄", "绿意植萃", "卷韵")},
[B_MAKEUP] = {W("Rouge Atelier", "Petalia", "Kiss & Co", "Velour", "Nuvia", "Glossworks"),
              W("胭脂工坊", "花瓣莉", "KISS&CO", "丝绒", "NUVIA", "光泽工坊")},
[B_FRAGRANCE] = {W("Maison Celeste", "Ambra", "Noir Atelier", "Fleur de Sel", "Oud House"),
                 W("星辰之家", "AMBRA", "墨色工坊", "海盐之花", "沉香屋")},
[B_PHONE_ACC] = {W("Armorly", "Voltix", "Caseform", "Juicebar", "Snapwell", "Ionix"),
                 W("甲壳派", "VOLTIX", "壳形", "电力吧", "随扣", "IONIX")},
[B_AUDIO] = {W("Sonique", "Basswave", "Auralis", "Quietly", "Decibel"),
             W("声动", "BASSWAVE", "奥拉", "静界", "分贝")},
[B_CAMERA] = {W("Optika", "Lumen", "Shutterline", "Pixora", "Kodo"),
              W("欧迪卡", "LUMEN", "快门线", "像素拉", "光渡")},
[B_MEMORY] = {W("Sandrive", "Memora", "Flashcore", "Kingsdata"),
              W("闪驰", "MEMORA", "闪芯", "金数")},
[B_KITCHEN] = {W("Brewmaster", "Copperleaf", "Hearth & Home", "Kettleworks", "Ironclad", "Ladle & Co"),
               W("咖匠", "铜叶", "炉边家居", "壶艺", "铁甲", "勺物")},
[B_HOME] = {W("Dreamweave", "Linen & Loom", "Slumberly", "Hygge House", "Wickworks"),
            W("梦织", "麻与织", "安眠家", "暖居", "烛作")},
[B_SPORTS] = {W("Stridex", "Peakform", "Flowmat", "Trailborn", "Aerolite"),
              W("步力", "峰形", "流瑜", "野径", "轻翼")},
[B_TOYS] = {W("Brickworks", "Funforge", "Tinker Tots", "Meeple Mill", "Starblock"),
            W("积木坊", "乐锻", "小工匠", "棋子磨坊", "星块")},
[B_BOOKS] = {W("Harbor Press", "Quill & Ink", "Bluefern Books", "Lantern House"),
             W("港湾出版社", "羽墨文化", "蓝蕨图书", "灯塔书屋")},
[B_FASHION] = {W("Maison Vela", "Urbanthread", "Linea", "Bloomwear", "Northcoat", "Atelier Nine"),
               W("维拉之家", "城市线", "LINEA", "花漾衣橱", "北境", "九号工作室")},
[B_GROCERY] = {W("Roastery Row", "Bean & Leaf", "Cocoa Republic", "Highland Harvest", "Teahouse No. 7"),
               W("烘焙街", "豆与叶", "可可共和", "高山丰收", "七号茶馆")},
[B_PETS] = {W("Happy Paws", "Barkery", "Wolfpack Nutrition", "Tailwag"),
            W("快乐爪", "汪焙坊", "狼群营养", "摇尾巴")},
};

const synth_words synth_tiers[3][SYNTH_NLANG] = {
    {W("Value", "Everyday", "Budget"), W("平价", "实惠", "入门款")},
    {W("Classic", "Signature", "Essential"), W("经典款", "标准版", "人气款")},
    {W("Premium", "Luxury", "Professional"), W("高端", "奢华", "专业级")},
};

/* One of these is always in a description: the tier is learnable from the text. */
const synth_words synth_offer[SYNTH_NLANG] = {
    W("{T} quality at {P}.", "Price: {P} ({T} line).", "Our {T} range, now {P}.", "Only {P} for a {T} {N}."),
    W("{T}，到手价{P}。", "售价{P}，{T}系列。", "{T}品质，仅需{P}。", "限时特惠{P}，{T}{N}。"),
};

const synth_words synth_generic[SYNTH_NLANG] = {
    W("Ships in recyclable packaging.",
      "Backed by a {#}-day money-back guarantee.",
      "A great gift for birthdays and holidays.",
      "Over {#},000 happy customers.",
      "Quality checked before it leaves our warehouse.",
      "Colors may vary slightly due to screen settings.",
      "Designed by our in-house team and made with care.",
      "Free returns within 30 days.",
      "Order today and it ships within {#} hours.",
      "Part of the {B} {C} collection.",
      "Customers say it is worth every penny.",
      "Our best-selling {N}, now even better.",
      "Easy to use, easy to clean and built to last.",
      "What you get: 1 x {N}.",
      "Looking for something new in {C}? This is it.",
      "Questions? Our support team replies within {#} hours.",
      "Fits neatly into your everyday routine.",
      "Model {M}."),
    W("环保包装，可回收。",
      "支持{#}天无理由退换。",
      "送礼佳品，生日节日都合适。",
      "已有{#}万+买家好评。",
      "出库前逐件质检。",
      "因显示器差异，颜色可能略有不同，请以实物为准。",
      "自主设计，用心制作。",
      "30天免费退货。",
      "今天下单，{#}小时内发货。",
      "{B}{C}系列。",
      "买家都说物超所值。",
      "店铺热销{N}，全新升级。",
      "简单易用，清洁方便，经久耐用。",
      "包装清单：{N}×1。",
      "想找{C}新品？就是它了。",
      "有问题请联系客服，{#}小时内回复。",
      "日常使用刚刚好。",
      "型号：{M}。"),
};

const synth_words synth_noise[SYNTH_NLANG] = {
    W("<br>", "<br/><br/>", "<b>NEW!</b>", "&amp;", "★★★★☆", "•", "100% SATISFACTION GUARANTEED!!", "N/A", "--",
      "(see photos)"),
    W("<br>", "【正品保障】", "★★★★★", "&nbsp;", "！！！", "~", "（详见图片）", "包邮", "【热卖】"),
};

const synth_words synth_title_noise[SYNTH_NLANG] = {
    W("NEW", "[Upgraded]", "2024", "Best Seller:", "** SALE **"),
    W("【官方正品】", "【新品】", "【包邮】", "【热卖】", "2024新款"),
};
/* clang-format on */

const char *const synth_currency[SYNTH_NLANG] = {"$", "¥"};
const double synth_price_rate[SYNTH_NLANG] = {1.0, 7.0};

int synth_count(synth_words w) {
    int n = 0;
    while (w && w[n]) n++;
    return n;
}

/* ---- table check ---------------------------------------------------------------------------- */

typedef struct {
    const char *where;
    const synth_category *cat; /* NULL: generic text, which may use only what every item has */
    int family;                /* {V} allowed */
} check_ctx;

static int check_string(const check_ctx *x, const char *s) {
    if (strpbrk(s, "\t\r\n")) return lt_error(LT_EFORMAT, "synth words: %s: tab or newline in '%s'", x->where, s);
    for (const char *p = strchr(s, '{'); p; p = strchr(p + 1, '{')) {
        char k = p[1];
        int ok = p[2] == '}';
        if (k == '1' || k == '2') ok = ok && x->cat && x->cat->fam[k - '1'];
        else if (k == 'V') ok = ok && x->family;
        else ok = ok && strchr("BNFGSTPC#M", k);
        if (!ok) return lt_error(LT_EFORMAT, "synth words: %s: bad placeholder at '%.3s' in '%s'", x->where, p, s);
    }
    return 0;
}

static int check_list(const check_ctx *x, synth_words w, int min, int max) {
    int n = synth_count(w);
    if (n < min || n > max) return lt_error(LT_EFORMAT, "synth words: %s: %d entries, need %d..%d", x->where, n, min, max);
    for (int i = 0; i < n; i++) LT_TRY(check_string(x, w[i]));
    return 0;
}

/* Same length in both languages: the index is the latent attribute, the text its rendering. */
static int check_pair(const char *where, const synth_words w[SYNTH_NLANG], int min) {
    check_ctx x = {where, NULL, 0};
    for (int l = 0; l < SYNTH_NLANG; l++) LT_TRY(check_list(&x, w[l], min, 255));
    if (synth_count(w[SYNTH_EN]) != synth_count(w[SYNTH_ZH]))
        return lt_error(LT_EFORMAT, "synth words: %s: %d English and %d Chinese entries", where,
                        synth_count(w[SYNTH_EN]), synth_count(w[SYNTH_ZH]));
    return 0;
}

int lt_synth_words_check(void) {
    for (int f = 1; f < SYNTH_NFAM; f++) {
        LT_TRY(check_pair("family values", synth_fams[f].values, 2));
        check_ctx x = {"family sentences", NULL, 1};
        for (int l = 0; l < SYNTH_NLANG; l++) LT_TRY(check_list(&x, synth_fams[f].sentences[l], 1, 32));
    }
    for (int b = 1; b < SYNTH_NBRAND_GROUPS; b++) LT_TRY(check_pair("brands", synth_brands[b], 2));
    for (int t = 0; t < 3; t++) LT_TRY(check_pair("tiers", synth_tiers[t], 1));
    for (int l = 0; l < SYNTH_NLANG; l++) {
        check_ctx x = {"generic text", NULL, 0};
        LT_TRY(check_list(&x, synth_offer[l], 1, 32));
        LT_TRY(check_list(&x, synth_generic[l], 8, 32));
        LT_TRY(check_list(&x, synth_noise[l], 1, 255));
        LT_TRY(check_list(&x, synth_title_noise[l], 1, 255));
    }
    for (int c = 0; c < SYNTH_NCATS; c++) {
        const synth_category *k = &synth_cats[c];
        if (!k->brands && !k->fam[0]) return lt_error(LT_EFORMAT, "synth words: category %d has neither brands nor slot 0", c);
        if (k->weight <= 0 || k->price <= 0) return lt_error(LT_EFORMAT, "synth words: category %d: weight and price must be > 0", c);
        for (int i = 0; k->comp[i] != C_NONE; i++)
            if (i >= SYNTH_MAXCOMP || k->comp[i] < 0 || k->comp[i] >= SYNTH_NCATS)
                return lt_error(LT_EFORMAT, "synth words: category %d: bad complement list", c);
        for (int l = 0; l < SYNTH_NLANG; l++) {
            const synth_cat_text *t = &k->text[l];
            check_ctx x = {t->path ? t->path : "category", k, 0};
            if (!t->path || !strstr(t->path, " > ")) return lt_error(LT_EFORMAT, "synth words: category %d: bad path", c);
            LT_TRY(check_string(&x, t->path));
            LT_TRY(check_string(&x, t->title));
            LT_TRY(check_list(&x, t->nouns, 1, 255));
            LT_TRY(check_list(&x, t->features, 2, 255));
            LT_TRY(check_list(&x, t->sizes, 1, 255));
            LT_TRY(check_list(&x, t->sentences, 2, 32));
        }
    }
    return 0;
}
